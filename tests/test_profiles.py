"""Settings have one source of truth: the library's defaults are the cpu profile's, every choice's
allowed values come from the module that uses them, and a run's seed is not an experiment's seeds."""

import inspect
from pathlib import Path

import pytest

from sgma_core import attention, centres, cropping, losses, sgma
from sgma_core.attention import MultiAttention
from sgma_core.profiles import CHOICE_FIELDS, RunConfig, choices, for_seed, make_config, make_experiment, with_settings

DEFAULTS = RunConfig()

# (callable, its parameter) → the RunConfig field whose default it must share
SHARED_DEFAULTS = [
    (losses.compactness_loss, "sigma", "cpt_sigma"),
    (losses.diversity_loss, "margin", "div_margin"),
    (losses.class_centre_triplet_loss, "margin", "cct_margin"),
    (losses.class_centre_triplet_loss, "negatives", "cct_negatives"),
    (losses.sgma_loss, "lam", "lam_div"),
    (losses.sgma_loss, "alpha", "alpha_cls"),
    (losses.sgma_loss, "beta", "beta_cct"),
    (sgma.sgma_objective, "lam", "lam_div"),
    (sgma.sgma_objective, "alpha", "alpha_cls"),
    (sgma.sgma_objective, "beta", "beta_cct"),
    (sgma.sgma_objective, "cpt_sigma", "cpt_sigma"),
    (sgma.sgma_objective, "div_margin", "div_margin"),
    (sgma.sgma_objective, "cct_margin", "cct_margin"),
    (sgma.sgma_objective, "cct_negatives", "cct_negatives"),
    (sgma.SGMA.__init__, "n_parts", "n_parts"),
    (sgma.SGMA.__init__, "part_scale", "part_scale"),
    (sgma.SGMA.__init__, "mask_k", "mask_k"),
    (sgma.SGMA.__init__, "centre_rule", "centre_rule"),
    (sgma.SGMA.__init__, "attention_norm", "attention_norm"),
    (sgma.SGMA.__init__, "attention_training", "attention_training"),
    (sgma.SGMA.__init__, "shared_W", "shared_W"),
    (sgma.SGMA.__init__, "emb_dim", "emb_dim"),
    (sgma.SGMA.__init__, "freeze_backbone", "freeze_backbone"),
    (MultiAttention.__init__, "n_parts", "n_parts"),
    (MultiAttention.__init__, "normalize", "attention_norm"),
    (attention.pretrain_grouping, "steps", "grouping_steps"),
    (attention.pretrain_grouping, "smoothing", "grouping_smoothing"),
    (attention.initialise_grouping, "omega", "grouping_images"),
    (attention.initialise_grouping, "steps", "grouping_steps"),
    (attention.initialise_grouping, "smoothing", "grouping_smoothing"),
    (cropping.boxcar_mask, "k", "mask_k"),
    (cropping.crop_and_zoom, "k", "mask_k"),
    (centres.LearnedCentres.__init__, "part_scale", "part_scale"),
]


@pytest.mark.parametrize("fn, param, field", SHARED_DEFAULTS, ids=lambda v: getattr(v, "__qualname__", v))
def test_library_defaults_are_the_run_config_defaults(fn, param, field):
    default = inspect.signature(fn).parameters[param].default
    assert default == getattr(DEFAULTS, field), f"{fn.__qualname__}({param}={default!r}) but RunConfig.{field} " \
                                                f"= {getattr(DEFAULTS, field)!r}"


@pytest.mark.parametrize("name", sorted(CHOICE_FIELDS))
def test_every_choice_is_declared_beside_its_field_and_checked(name):
    allowed = choices(name)
    assert getattr(DEFAULTS, name) in allowed
    # every allowed value is accepted (alternating epochs with an attention that trains: with a frozen one they
    # would train nothing, and the pair is refused, tests/test_ablations.py) …
    trains = {"attention_training": "heads"} if name == "training_schedule" else {}
    for value in allowed:
        assert getattr(make_config("cpu", overrides={name: value, **trains}), name) == value
    with pytest.raises(ValueError, match=f"{name}='nonsense'; choose one of"):  # … and nothing else
        make_config("cpu", overrides={name: "nonsense"})


def test_the_modules_select_among_the_declared_choices():
    from sgma_core import data
    from sgma_core.engine import step

    assert sgma.ATTENTION_TRAINING == choices("attention_training") and sgma.SCHEDULES == choices("training_schedule")
    assert attention.NORMALIZE == choices("attention_norm")
    assert losses.CCT_NEGATIVES == choices("cct_negatives")
    assert step.PRECISIONS == choices("precision") and data.DATASETS == choices("dataset")


ROOT = Path(__file__).resolve().parents[1]


def _source(module: str) -> Path | None:
    """The file of a project module or package, or None where ``module`` is not one (a name inside one)."""
    path = ROOT.joinpath(*module.split("."))
    return next((p for p in (path.with_suffix(".py"), path / "__init__.py") if p.is_file()), None)


def _project_imports(module: str) -> set[str]:
    """The project modules ``module`` imports anywhere in its source (inside functions too), with the packages
    that importing them runs (``sgma_core.data.images`` runs ``sgma_core.data``)."""
    import ast

    tree = ast.parse(_source(module).read_text(encoding="utf-8"))
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | \
            {f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
             for a in n.names} | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {".".join(name.split(".")[:i]) for name in names for i in range(2, name.count(".") + 1)}
    return {m for m in names if m.split(".")[0] in ("sgma_core", "bookkit", "data_prep") and m != "sgma_core"
            and m != module and _source(m) is not None}


def test_the_settings_import_only_the_two_registries_which_never_import_them():
    """Every other floor may import the settings: they import two modules of the project, the registries that
    check ``backbone`` with its ``layer`` and ``centre_rule``, and nothing those import, at any depth, imports
    the settings back."""
    assert _project_imports("sgma_core.profiles") == {"sgma_core.backbones", "sgma_core.centres"}
    seen, todo = set(), ["sgma_core.backbones", "sgma_core.centres"]
    while todo:
        module = todo.pop()
        seen.add(module)
        todo += sorted(_project_imports(module) - seen)
    assert "sgma_core.profiles" not in seen, sorted(seen)


def test_values_are_converted_by_their_declared_types():
    cfg = make_config("cpu", {"ridge_lambda": "1e-3", "epochs": "4", "augment": "no", "max_train_images": None,
                              "centre_rule": "learned"})
    assert (cfg.ridge_lambda, cfg.epochs, cfg.augment, cfg.max_train_images) == (0.001, 4, False, None)
    for changes, message in (({"epochs": 2.5}, "epochs=2.5: expected an integer"),
                             ({"lr": None}, "lr=None: lr needs a value"), ({"augment": "maybe"}, "true or false"),
                             ({"centre_rule": 3}, "centre_rule=3: expected a string")):
        with pytest.raises(ValueError, match=message):
            make_config("cpu", changes)


def test_a_run_has_one_seed_and_an_experiment_several():
    assert "seeds" not in {f for f in RunConfig.__dataclass_fields__}
    exp = make_experiment("cpu", {"epochs": 3})
    assert exp.seeds == (0, 1, 2) and exp.config.seed == 0
    assert [c.seed for c in exp.configs()] == [0, 1, 2] and all(c.epochs == 3 for c in exp.configs())
    assert make_experiment("smoke").seeds == (0,)
    assert make_experiment("cpu", seeds=[4, 1]).config.seed == 4
    assert for_seed(exp.config, 7) == with_settings(exp.config, seed=7) != exp.config


@pytest.mark.parametrize("seeds, message", [([0, 0], "repeat a seed"), ("zero", "list of integers"),
                                            ([], "non-empty"), ([0.5], "list of integers")])
def test_bad_seeds_are_refused(seeds, message):
    with pytest.raises(ValueError, match=message):
        make_experiment("cpu", seeds=seeds)


def test_seeds_is_not_a_run_setting():
    with pytest.raises(ValueError, match="seeds is not a setting of one run"):
        make_config("cpu", overrides={"seeds": [0, 1]})
    with pytest.raises(ValueError, match="unknown parameter 'lr_decay'"):
        with_settings(RunConfig(), lr_decay=0.1)


def test_the_cpu_profile_trains_on_one_thread_and_a_chapter_may_ask_for_its_first_seed():
    """One thread: a run repeats bit for bit only at a fixed thread count, so the records and a reader's run agree."""
    from sgma_core.profiles import PROFILE_SEEDS, make_config, make_experiment

    assert make_config("cpu").num_threads == 1
    assert make_experiment("cpu", seeds="first").seeds == PROFILE_SEEDS["cpu"][:1]
    assert make_experiment("cpu").seeds == PROFILE_SEEDS["cpu"]
