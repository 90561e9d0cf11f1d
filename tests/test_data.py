"""Input pipelines (zoo.data): embedded datasets, sharding, resume position, image folders."""

import numpy as np
import pytest
import tensorflow as tf

from zoo import data


def test_digits_is_the_real_dataset_with_a_stratified_20_percent_holdout():
    src = data.digits_source(image_size=32, channels=3, augment="none")
    # 1,797 scikit-learn digits: 360 test, and 15% of the other 1,437 for validation
    assert (src.num_train, src.num_validation, src.num_test) == (1221, 216, 360)
    x, y = next(iter(data.evaluation_pipeline(src, 360)))
    assert x.shape == (360, 32, 32, 3)
    assert np.bincount(y.numpy()).min() >= 35  # every class held out
    assert -1.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 1.0
    _, y_val = next(iter(data.validation_pipeline(src, 216)))
    assert np.bincount(y_val.numpy()).min() >= 20  # stratified: every class in validation
    whole = data.digits_source(16, 1, augment="none", validation_fraction=0)
    assert (whole.num_train, whole.num_validation, whole.num_test) == (1437, None, 360)
    assert data.validation_pipeline(whole, 8) is None


def test_digits_and_their_splits_are_scikit_learns_without_importing_it():
    """zoo reads the digits from the file scikit-learn ships and draws the stratified splits as
    its `train_test_split` does (zoo.data.images, written out to spare every process the import
    of scikit-learn): the same arrays and the same indices, nested splits included, for 12 seeds
    and several fractions."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from zoo.data import images

    d = load_digits()
    digit_images, target = images._digits()
    assert digit_images.dtype == d.images.dtype and target.dtype == d.target.dtype
    np.testing.assert_array_equal(digit_images, d.images)
    np.testing.assert_array_equal(target, d.target)
    everything = np.arange(len(target))
    for seed in range(12):
        for fraction in (0.2, 0.15, 0.33, 0.5):
            want = train_test_split(everything, test_size=fraction, random_state=seed,
                                    stratify=target)
            got = images._stratified_split(everything, target, fraction, seed)
            for a, b in zip(got, want):
                np.testing.assert_array_equal(a, b)
        train = want[0]
        for fraction in (0.15, 0.1):
            want = train_test_split(train, test_size=fraction, random_state=seed,
                                    stratify=target[train])
            for a, b in zip(images._stratified_split(train, target[train], fraction, seed), want):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("seed", [0, 1])
def test_digits_splits_are_disjoint_and_the_test_split_is_the_one_it_always_was(seed):
    """Train, validation and test index sets are disjoint and cover the 1,797 digits; the test
    split is scikit-learn's stratified 20% of the whole set drawn with the seed (the split every
    published figure was measured on), whatever the validation fraction."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    target = load_digits().target
    _, before = train_test_split(np.arange(len(target)), test_size=0.2, random_state=seed,
                                 stratify=target)
    train, val, test = data.digits_indices(seed)
    assert (len(train), len(val), len(test)) == (1221, 216, 360)
    assert not set(train) & set(val) and not set(train) & set(test) and not set(val) & set(test)
    assert len(set(train) | set(val) | set(test)) == len(target)
    np.testing.assert_array_equal(test, before)
    np.testing.assert_array_equal(data.digits_indices(seed, 0.3)[2], before)
    x_tr, x_te, y_tr, y_te = data.digits_split(seed)  # the two-way split of before
    images = load_digits().images * (255.0 / 16.0)
    np.testing.assert_allclose(x_te, images[before], rtol=1e-6)
    assert len(x_tr) == 1437 and np.array_equal(y_te, target[before])
    src = data.digits_source(8, 1, augment="none", seed=seed)
    x_val = np.concatenate([x for x, _ in data.validation_pipeline(src, 64)])
    np.testing.assert_allclose((x_val[..., 0] + 1) * 127.5, images[val], atol=1e-3)


def test_adding_problem_matches_its_definition():
    x, y = data.adding_problem(5000, steps=100, seed=3)
    assert x.shape == (5000, 100, 2) and y.shape == (5000, 1)
    markers = x[..., 1]
    assert np.all(markers.sum(1) == 2)
    assert np.all(markers[:, :50].sum(1) == 1)  # one marker in each half
    np.testing.assert_allclose(y[:, 0], (x[..., 0] * markers).sum(1), rtol=1e-6)
    # predicting the constant 1 gives the variance of the sum of two U(0, 1): 1/6
    assert abs(np.mean((y - 1.0) ** 2) - 1 / 6) < 0.01


def test_reversal_problem_targets_are_reversed_sources():
    (src, dec_in), labels = data.reversal_problem(200, max_len=20, vocab=20, seed=0)
    for s, d, l in zip(src, dec_in, labels):
        seq = s[s != data.PAD]
        assert 1 <= len(seq) <= 20 and seq.min() >= 3 and seq.max() <= 22
        np.testing.assert_array_equal(l[: len(seq)], seq[::-1])
        assert l[len(seq)] == data.EOS and d[0] == data.BOS
        np.testing.assert_array_equal(d[1 : len(seq) + 1], seq[::-1])


@pytest.mark.parametrize("make", [lambda: data.adding_source(20, 3000, 500),
                                  lambda: data.reversal_source(num_train=10_000, num_test=1_000)])
def test_generated_problems_share_no_example_between_train_validation_and_test(make):
    """No example of a generated problem is in two of its splits: the adding problem's inputs
    (values and markers) and reversal's source sequences (reversal draws about 8% of short
    sequences twice when drawn independently: they are replaced)."""
    src = make()

    def keys(ds):
        return [np.asarray(x[0] if isinstance(x, tuple) else x).tobytes()
                for x, _ in ds.as_numpy_iterator()]

    train, val, test = keys(src.train(None)), keys(src.validation()), keys(src.test())
    assert len(test) == src.num_test and len(set(test)) == len(test)
    assert len(val) == src.num_validation > 0 and len(set(val)) == len(val)
    assert not set(train) & set(test) and not set(train) & set(val) and not set(val) & set(test)


def test_reversal_held_out_overlap_without_the_filter_is_real():
    """The check above can fail: independent draws of the same problem do overlap."""
    (tr, _), _ = data.reversal_problem(10_000, seed=0)
    (te, _), _ = data.reversal_problem(1_000, seed=1)
    overlap = len({r.tobytes() for r in tr} & {r.tobytes() for r in te})
    assert 40 <= overlap <= 120, overlap


def test_fractions_are_checked_by_name(tmp_path):
    with pytest.raises(ValueError, match=r"`validation_fraction` must be a fraction in \[0, 1\). "
                                         r"Received: validation_fraction=1.0"):
        data.digits_source(validation_fraction=1.0)
    with pytest.raises(ValueError, match=r"Received: validation_fraction=-0.1"):
        data.digits_indices(validation_fraction=-0.1)
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match=r"Received: test_fraction=2"):
        data.image_folder_source(str(tmp_path), test_fraction=2)
    with pytest.raises(ValueError, match=r'`split` must be "test" or "validation"'):
        data.evaluation_pipeline(data.adding_source(10, 8, 8), 4, "val")


def _ctx(pipelines, index, replicas):
    return tf.distribute.InputContext(pipelines, index, replicas)


def test_sharded_pipelines_together_give_the_single_pipeline_global_batches():
    src = data.array_source("ids", np.arange(1000), np.arange(1000))
    single = [set(b[0].numpy()) for b in data.train_pipeline(src, 32, seed=5).take(6)]
    shards = [list(data.train_pipeline(src, 16, _ctx(2, i, 2), seed=5).take(6)) for i in (0, 1)]
    for step in range(6):
        union = set(shards[0][step][0].numpy()) | set(shards[1][step][0].numpy())
        assert union == single[step]
    # a resumed pipeline continues with the batches it would have had
    resumed = [set(b[0].numpy()) for b in data.train_pipeline(src, 32, seed=5, skip_steps=4)
               .take(2)]
    assert resumed == single[4:6]


def test_random_augmentation_is_seeded_by_the_stream_position():
    """Random crops and flips are the same on every run, split over replicas or resumed: each
    example's augmentation is drawn from the seed and its position in the stream."""
    src = data.digits_source(image_size=16, channels=1, augment="crop_flip")

    def images(batches):
        return [{b.tobytes() for b in np.asarray(x)} for x, _ in batches]

    single = images(data.train_pipeline(src, 32, seed=5).take(6))
    assert images(data.train_pipeline(src, 32, seed=5).take(6)) == single  # runs agree
    assert images(data.train_pipeline(src, 32, seed=6).take(1)) != single[:1]
    shards = [images(data.train_pipeline(src, 16, _ctx(2, i, 2), seed=5).take(6)) for i in (0, 1)]
    for step in range(6):
        assert shards[0][step] | shards[1][step] == single[step]
    assert images(data.train_pipeline(src, 32, seed=5, skip_steps=4).take(2)) == single[4:6]
    # the crops are random: the same digit is not always cut the same way
    plain = images(data.train_pipeline(data.digits_source(16, 1, "none"), 32, seed=5).take(1))
    assert single[0] != plain[0]


def test_image_folder_source_reads_class_folders(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(5):
            img = rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)
            tf.io.write_file(str(tmp_path / c / f"{i}.png"), tf.io.encode_png(img))
    src = data.image_folder_source(
        str(tmp_path), preprocess=data.image_preprocessor(16, 3, "crop_flip"))
    assert src.info["class_names"] == ["cat", "dog"] and (src.num_train, src.num_test) == (8, 2)
    x, y = next(iter(data.train_pipeline(src, 4)))
    assert x.shape == (4, 16, 16, 3) and set(y.numpy()) <= {0, 1}
    assert src.validation is None
    # a validation fraction of each class's training images; the test split is unchanged
    val = data.image_folder_source(str(tmp_path), validation_fraction=0.25)
    assert (val.num_train, val.num_validation, val.num_test) == (6, 2, 2)
    files = {split: {f for f, _ in make().as_numpy_iterator()}
             for split, make in (("train", lambda: val.train(None)), ("val", val.validation),
                                 ("test", val.test), ("test_before", src.test))}
    assert files["test"] == files["test_before"] and not files["train"] & files["val"]
    assert not (files["train"] | files["val"]) & files["test"]
    with pytest.raises(ValueError, match="Received: path="):
        data.image_folder_source(str(tmp_path / "missing"))


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match=r"`augment` must be one of .* Received: augment='rot'"):
        data.image_preprocessor(augment="rot")
    with pytest.raises(ValueError, match=r"Received: per_replica_batch=0"):
        data.train_pipeline(data.adding_source(10, 64, 8), 0)


def test_get_source_reaches_every_source_by_name(tmp_path):
    """One lookup: the embedded sources, a CSV series, the karate club; the makers' own keyword
    arguments pass through."""
    assert data.get_source("digits_rows").info["input_shape"] == (8, 8)
    assert data.get_source("digits_tokens").info["vocab_size"] == 18
    assert data.get_source("adding", steps=6, num_train=32, num_test=8).info["steps"] == 6
    assert data.get_source("reversal", max_len=5, vocab=8, num_train=64,
                           num_test=8).info["vocab_size"] == 11
    assert data.get_source("karate").info["num_nodes"] == 34
    series = data.get_source("synthetic_series", length=300, num_drivers=3, window=5)
    assert series.info["window"] == 5 and series.info["num_drivers"] == 3
    csv = tmp_path / "s.csv"
    rows = np.random.default_rng(0).normal(size=(200, 3))
    csv.write_text("a,b,y\n" + "\n".join(",".join(f"{v:.4f}" for v in r) for r in rows))
    src = data.get_source(str(csv), target="y", window=4)
    assert src.info["num_drivers"] == 2 and src.info["window"] == 4
    with pytest.raises(ValueError, match="needs its target column"):
        data.get_source(str(csv))
    with pytest.raises(ValueError, match=r"needs the folder of its files.*Received: directory=None"):
        data.get_source("cora")


def test_get_source_names_the_known_sources_when_the_name_is_unknown():
    with pytest.raises(ValueError, match=r"Did you mean 'cifar10'.*Known names: digits, "
                                         r"digits_rows.*karate.*Received: name='cifar1O'"):
        data.get_source("cifar1O")
    with pytest.raises(ValueError, match=r"`tokenize` must be one of \('words', 'subwords'\)"):
        data.get_source("imdb_reviews", tokenize="chars")
    with pytest.raises(ValueError, match="Received: name=''"):
        data.get_source("")


def test_the_sources_moved_into_zoo_data_keep_their_old_homes():
    from zoo.roles.sequence import digits_tokens_source, text_source
    from zoo.tasks.forecasting import forecasting_source
    from zoo.tasks.translation import subword_source

    assert digits_tokens_source is data.digits_tokens_source and text_source is data.text_source
    assert forecasting_source is data.forecasting_source
    assert subword_source is data.subword_source
    for name in ("DataSource", "digits_split", "digits_indices", "check_fraction", "unpack",
                 "takes_seed", "EMBEDDED", "train_pipeline", "evaluation_pipeline",
                 "validation_pipeline", "array_source", "tfds_source", "image_folder_source",
                 "image_preprocessor", "digits_source", "digits_rows_source", "adding_problem",
                 "adding_source", "reversal_problem", "reversal_source", "unseen_examples",
                 "AUGMENTATIONS", "AUTOTUNE", "PAD", "BOS", "EOS"):
        assert hasattr(data, name), name


def test_renamed_data_names_warn_and_still_work():
    import warnings

    from zoo import data as zdata

    with pytest.warns(DeprecationWarning, match="zoo.data.evaluation_pipeline"):
        assert zdata.eval_pipeline is zdata.evaluation_pipeline
    src = zdata.get_source("adding", steps=5, num_train=8, num_validation=4, num_test=6)
    with pytest.warns(DeprecationWarning, match="DataSource.test"):
        assert src.eval is src.test
    with pytest.warns(DeprecationWarning, match="num_test="):
        assert zdata.adding_source(steps=5, num_train=8, num_eval=3).num_test == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new names alone warn nothing
        assert zdata.adding_source(steps=5, num_train=8, num_test=3).num_test == 3
