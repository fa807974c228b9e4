"""``tagger serve``: an HTTP JSON API over a loaded model (aiohttp), with micro-batching and limits."""
