"""Stage `text_painter`: a sentence in, a digit out."""
