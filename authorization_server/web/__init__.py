"""What the endpoints share: request reading, CORS, pages and cookies, client authentication,
rate limits, and where the browser goes next. Imports no protocol step (``flow/``)."""
