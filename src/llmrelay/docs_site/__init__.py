"""The docs site the relay serves: `/docs/...`, `/llms.txt`, `/llms-full.txt`, `/openapi.json`."""

from llmrelay.docs_site.routes import docs_routes

__all__ = ["docs_routes"]
