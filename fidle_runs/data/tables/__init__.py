"""Tables (FIDLE's BHPD and Wine regressors, scikit-learn's diabetes, any CSV): rows of features
and target columns, read with pandas, split and encoded with the train rows' statistics only."""
