"""fieldapp: offline-first field app for preventive police work."""
