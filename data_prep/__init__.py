"""data_prep: obtain, check and convert the datasets the book uses."""
