"""The top layer: the site and the back-office work that reads every app."""
