"""The auditors' web page (aiohttp): see broker.services.web.app."""
