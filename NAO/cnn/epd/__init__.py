"""NAO's encoder-predictor-decoder tools (renqianluo/NAO NAO/cnn/epd): `epd.main` trains the EPD,
tests it and generates architectures; the convert_* and get_top100 scripts move architectures
between dag.<i>.json files and the EPD's token files."""
