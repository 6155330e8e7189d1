"""mock-anthropic: the Messages API (plain and streaming) and the models list."""
