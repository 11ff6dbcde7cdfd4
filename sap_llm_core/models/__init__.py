"""The three models (vision encoder, language decoder, reasoning engine): code only, no Dagster."""
