"""Sequential models over each user's time-ordered history: SASRec, BERT4Rec."""
