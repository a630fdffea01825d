"""Point-in-time features, the baseline predictor and the prediction settler.

The bot daemon calls, every few seconds: :func:`decision_times` on the latest stored bar end, then
:func:`predict` and :func:`write_predictions` for each new decision time, and :func:`settle` with the
current time. Every read goes through the one point-in-time rule in :mod:`cqt.predict.pit`.
"""

from cqt.predict.baseline import MODEL, BaselineOutput, baseline
from cqt.predict.features import Features, pit_features, upbit_market_for
from cqt.predict.predictor import (
    Prediction,
    decision_times,
    predict,
    predict_at,
    write_predictions,
)
from cqt.predict.settle import settle

__all__ = [
    "MODEL",
    "BaselineOutput",
    "Features",
    "Prediction",
    "baseline",
    "decision_times",
    "pit_features",
    "predict",
    "predict_at",
    "settle",
    "upbit_market_for",
    "write_predictions",
]
