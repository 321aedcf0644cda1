"""The web page for the service (Gradio): verify a reference against test photos, see the
verdicts on the photos. It calls the service only through `client.FaceClient`, so the token
stays in this process and never reaches the browser.

    python -m ui            # http://127.0.0.1:7860 (make ui also starts the server)
"""
