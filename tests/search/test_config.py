import pytest

from search.config import ConfigError, SearchConfig, load_config, parse_quantity


def test_overrides_are_typed():
    cfg = load_config(None, ["target=mpic", "bits=0,2,4,8", "budget=20kB", "strength=0.5", "progress=false"])
    assert cfg.target == "mpic" and cfg.bits == (0, 2, 4, 8)
    assert cfg.budget == 20_000.0 and cfg.strength == 0.5 and cfg.progress is False


def test_toml_then_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('model = "resnet8"\nbits = [0, 4, 8]\nsearch_epochs = 7\n')
    cfg = load_config(path, ["search_epochs=3"])
    assert (cfg.model, cfg.bits, cfg.search_epochs) == ("resnet8", (0, 4, 8), 3)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("colour=red", "colour"),
        ("lr=fast", "lr"),
        ("lr=-1", "lr"),
        ("sampling=random", "sampling"),
        ("bits=", "bits"),
        ("act_bits=0,8", "act_bits"),
        ("warmup_epochs=2.5", "warmup_epochs"),
        ("budget=3 parsecs", "3 parsecs"),
    ],
)
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert key in str(err.value) and "\n" not in str(err.value)


def test_quantities():
    assert parse_quantity("1.5MiB") == 1.5 * 1024**2
    assert parse_quantity("2M") == 2e6
    assert parse_quantity(300) == 300.0


def test_json_round_trip():
    cfg = SearchConfig(method_options=(("rho", 0.1),), bits=(0, 8))
    assert SearchConfig.from_dict(cfg.to_dict()) == cfg
    assert dict(cfg.method_options) == {"rho": 0.1}
