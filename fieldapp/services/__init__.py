"""Application services: what one request does, between the web layer and the domain.

A service checks access once (fieldapp/access.py), calls the domain, and after the domain's transaction
runs what follows from the write (the projections). Routes call services or, for plain reads, the domain;
nothing below this package imports it.
"""
