"""`linkgan view`: a local web page to explore linked generators, control and linked side by side.

    session.py   networks, latents, one view state -> images, heatmaps, numbers (pure Python, no HTTP)
    server.py    the HTTP server: the page, its static assets (a whitelist) and a small JSON API
    loading.py   what the command loads and serves, checked first (the command: cli/view.py)
    static/      index.html, viewer.js, viewer.css (package data; nothing is fetched from elsewhere)
"""
