"""xsearch: explore the design space between Inception and Xception."""
