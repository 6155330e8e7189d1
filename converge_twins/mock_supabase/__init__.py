"""mock-supabase: GoTrue auth (``/auth/v1``) and PostgREST tables (``/rest/v1``) in memory."""
