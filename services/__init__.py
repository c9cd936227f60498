"""Use cases shared by the site, the API, the command line and the scheduler."""
