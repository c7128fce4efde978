"""What the API and the browser pages share: who is asking (sessions, tokens, CSRF), bounded uploads, and
refusals as problem documents. Neither imports the other; both call the application layer."""
