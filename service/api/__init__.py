"""The HTTP app: the FastAPI factory, routers, dependencies, auth, problems, middleware and the dashboard."""
