"""`cqt dashboard`: a Streamlit view of the database the bot fills (market, collection health,
predictions, labels) and of the latest gate matrix. Read-only: every session runs with
``default_transaction_read_only``; secrets are shown only as presence, length and placeholder status."""
