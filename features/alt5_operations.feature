Feature: ALT-5 24 h operation and dataset
  ALT-5 is "24 hours of operation and a usable dataset". One scenario per item of the ALT-5 report, in
  its order. Every item judges the configured database; items that need 24 h of bot run time stay
  PENDING until a run that long exists, with the longest run seen and its stop cause. Under the local
  profile a short simulator run is judged and every message says so.

  Background:
    Given the configured database answers

  Scenario: ALT-5.1 Preconditions: the database answers and Coinglass is enabled with a real key
    When the Coinglass settings are read
    Then COINGLASS_ENABLED is true and COINGLASS_API_KEY is a real key

  Scenario: ALT-5.2 The bot ran 24 h continuously
    When the bot runs are read from bot_runs
    Then the longest run lasted at least 24 hours without a heartbeat gap

  Scenario: ALT-5.3 The dashboard health endpoint answers
    When the dashboard is started on a free local port
    Then its Streamlit health route answers ok

  Scenario: ALT-5.4 Pipeline checks pass at +10 min, +1 h and +24 h of the run
    When the pipeline checks run over every milestone the running bot has reached
    Then every milestone passes, module by module

  Scenario: ALT-5.5 The 1 h export is non-empty and drops no label_ts violations
    When the 1-hour dataset is exported with a 120 s horizon
    Then the Parquet file reads back with rows
    And almost no rows were dropped for a label_ts before t0 plus the horizon
    And the leak check's audit of the file finds no label before t0 plus the horizon

  Scenario: ALT-5.6 The 24 h export btc_24h.parquet
    Given a bot that has run for 24 hours
    When the 24-hour dataset is exported with a 120 s horizon
    Then the Parquet file reads back with rows

  Scenario: ALT-5.7 An all-NONE label distribution is reported, not failed
    Given a bot that has run for 24 hours
    When the label study runs over the last 24 hours
    Then fixed and dynamic r_t are compared side by side and an all-NONE policy is explained

  Scenario: ALT-5.8 Operations record of the run
    When the bot runs, their task events and the bot log are read
    Then the record names start, stop, continuous duration, stop cause and the top 5 warnings or errors

  Scenario: ALT-5.9 The filled ALT-5 report is written
    When the ALT-5 report is written from this session's results
    Then it reads back with one row per ALT-5 item
