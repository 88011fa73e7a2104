"""Shared pytest setup: quiet TensorFlow's C++ start-up logging in test output."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
