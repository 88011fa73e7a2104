"""TensorFlow 2 building blocks shared by the TF systems (ENAS, NAO/cnn, NAO-WS/cnn)."""
