"""The multi-seed ablation study (src/study/ablations.py, ablations_stats.py; `study.py ablations`):
separate run folders per (variant, seed), results JSONs that make a rerun skip finished runs,
config drift refused, V6 retrained on a new machine only for K1/K2 still to do, mean/std and
paired differences against hand-computed numbers, one verdict per claim, the report from the
JSONs alone, study.py's command line. Training and evaluation are stubs here, except tiny real
end-to-end runs (corpus and folder format)."""

import csv
import importlib.util
import json
import math
import os

import numpy as np
import pytest

import study as study_py
from src.logs import capture
from src.study import ablations, ablations_stats
from src.study.common import StudyError, parse_seeds

RAIN = {
    ("V6", 0): 30.0,
    ("V6", 1): 31.0,
    ("V6", 2): 29.5,
    ("V2", 0): 29.0,
    ("V2", 1): 30.5,
    ("V2", 2): 29.0,
    ("K1", 0): 25.0,
    ("K1", 1): 25.5,
    ("K1", 2): 26.0,
    ("K2", 0): 26.0,
    ("K2", 1): 26.0,
    ("K2", 2): 26.2,
}


@pytest.fixture
def roots(tmp_path):
    """Data roots as configs/study.yaml expects them (the stubs read nothing from them)."""
    clean, real = tmp_path / "clean", tmp_path / "real"
    (clean / "kodak24").mkdir(parents=True)
    (real / "heavy_rain_pairs" / "input").mkdir(parents=True)
    return [f"--data.roots.clean={clean}", f"--data.roots.real={real}"]


class Stubs:
    """A trainer that writes a fake checkpoint and log into the run folder, and an evaluator whose
    rain PSNR-Y is RAIN[(variant, seed)] (snow = rain - 2)."""

    made = [0]  # checkpoints written by any Stubs (each one different)

    def __init__(self):
        self.trained, self.evaluated = [], []

    def trainer(self, key, cfg, rdir, steps, echo=True):
        seed = int(cfg.train.seed)
        assert int(cfg.data.seed) == seed
        assert os.path.abspath(cfg.train.output_dir) == os.path.abspath(rdir)
        assert rdir.endswith(os.path.join(key, f"seed{seed}"))
        if key in ("K1", "K2"):
            assert cfg.train.pretrained == os.path.join(
                os.path.dirname(os.path.dirname(rdir)), "V6", f"seed{seed}", "ckpt", "best.ckpt"
            )
            assert cfg.model.contrast is False and cfg.model.freeze_encoder is True
        assert not os.path.exists(os.path.join(rdir, "ckpt", "best.ckpt")) or key == "none"
        self.trained.append((key, seed))
        os.makedirs(os.path.join(rdir, "ckpt"), exist_ok=True)
        with open(os.path.join(rdir, "ckpt", "best.ckpt"), "w") as fh:
            self.made[0] += 1
            fh.write(f"{key} {seed} {self.made[0]}")
        with open(os.path.join(rdir, "log.csv"), "w") as fh:
            fh.write("step,step_time\n" + "".join(f"{s},{0.1 * s}\n" for s in range(1, steps + 1)))
        with open(os.path.join(rdir, "config.yaml"), "w") as fh:
            import yaml

            fh.write(yaml.safe_dump(cfg.to_dict()))

    def evaluator(self, key, cfg, rdir):
        seed = int(cfg.train.seed)
        self.evaluated.append((key, seed))
        psnr = RAIN.get((key, seed), 20.0 + seed)
        m = lambda p: {"psnr_y": p, "ssim_y": p / 100, "psnr_rgb": p - 1, "ssim_rgb": p / 200, "n": 3}  # noqa: E731
        return {
            "ckpt": os.path.join(rdir, "ckpt", "best.ckpt"),
            "ckpt_kind": "best",
            "ckpt_step": 4,
            "params": 1000 + (key == "V2") * 10,
            "gflops": 1.5,
            "tasks": {"rain": m(psnr), "snow": m(psnr - 2)},
            "input": {"rain": m(18.0), "snow": m(17.0)},
            "real": {"rain": m(psnr - 5)},
            "real_input": {"rain": m(15.0)},
            "sets": {},
            "blind": {"accuracy": 0.75, "restored": m(psnr - 0.5)},
        }


def _run(tmp_path, roots, stubs, variants, seeds=(0, 1), steps=4, extra=(), **kw):
    with capture() as logs:
        res = ablations.run_study(
            variants,
            list(seeds),
            steps,
            str(tmp_path / "runs"),
            str(tmp_path / "results"),
            str(tmp_path / "docs" / "study.md"),
            overrides=list(roots) + list(extra),
            trainer=stubs.trainer,
            evaluator=stubs.evaluator,
            figure=False,
            **kw,
        )
    return res, logs


def test_seeds_parse_and_defaults():
    assert parse_seeds(None) == [0, 1, 2] and parse_seeds("") == [0, 1, 2]
    assert parse_seeds("2, 0,2") == [2, 0]
    with pytest.raises(StudyError, match="not an integer"):
        parse_seeds("0,x")


def test_each_run_in_its_own_folder_with_its_json(tmp_path, roots):
    stubs = Stubs()
    _run(tmp_path, roots, stubs, ["V6", "K1"])
    assert stubs.trained == [("V6", 0), ("K1", 0), ("V6", 1), ("K1", 1)]  # seed by seed, V6 before K1
    for key in ("V6", "K1"):
        for seed in (0, 1):
            rdir = tmp_path / "runs" / key / f"seed{seed}"
            assert (rdir / "ckpt" / "best.ckpt").read_text().startswith(f"{key} {seed}")
            rec = json.loads((tmp_path / "results" / key / f"seed{seed}.json").read_text())
            assert rec["variant"] == key and rec["seed"] == seed and rec["steps"] == 4
            assert rec["config"]["train"]["seed"] == seed and rec["config"]["data"]["seed"] == seed
            assert rec["config"]["train"]["max_steps"] == 4 and "output_dir" not in rec["config"]["train"]
            assert rec["tasks"]["rain"]["psnr_y"] == RAIN[(key, seed)]
            assert rec["s_per_step"] == pytest.approx(0.3)  # (upper) median step_time of the fake log
            assert rec["eval_protocol"]["kind"] == "corpus renders" and rec["eval_protocol"]["real_pairs"]
    k1 = json.loads((tmp_path / "results" / "K1" / "seed1.json").read_text())
    v6 = json.loads((tmp_path / "results" / "V6" / "seed1.json").read_text())
    assert k1["pretrained"]["from"] == "V6/seed1" and k1["pretrained"]["sha256"] == v6["ckpt_sha256"]
    assert k1["config"]["model"]["contrast"] is False
    files = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "results") for f in fs]
    assert sorted(os.path.basename(f) for f in files) == ["seed0.json", "seed0.json", "seed1.json", "seed1.json"]


def test_rerun_skips_finished_runs(tmp_path, roots):
    stubs = Stubs()
    _run(tmp_path, roots, stubs, ["V6", "V2"])
    stubs2 = Stubs()
    _, logs = _run(tmp_path, roots, stubs2, ["V6", "V2"], extra=["--data.num_workers=1"])  # not a results key
    assert stubs2.trained == [] and stubs2.evaluated == []
    assert sum(line.startswith("[") and "done earlier" in line for line in logs) == 4
    _, logs = _run(tmp_path, roots, stubs2, ["V6", "V2"], seeds=(0, 1, 2))  # a new seed: only it runs
    assert stubs2.trained == [("V6", 2), ("V2", 2)]


def test_config_drift_is_refused_naming_the_key(tmp_path, roots):
    stubs = Stubs()
    _run(tmp_path, roots, stubs, ["V6", "V2"])
    for extra, steps, key in (
        (["--train.lr=0.002"], 4, "train.lr"),
        ([], 5, "train.max_steps"),
        (["--data.crop_size=96"], 4, "data.crop_size"),
    ):
        with pytest.raises(StudyError) as err:
            _run(tmp_path, roots, Stubs(), ["V6", "V2"], steps=steps, extra=extra)
        msg = str(err.value)
        assert "\n" not in msg and f"{key}=" in msg and "--force" in msg and "V6 seed 0" in msg
    with pytest.raises(StudyError, match="--seeds"):
        _run(tmp_path, roots, Stubs(), ["V6"], extra=["--train.seed=3"])
    forced = Stubs()
    _run(tmp_path, roots, forced, ["V6", "V2"], extra=["--train.lr=0.002"], force=True)
    assert forced.trained == [("V6", 0), ("V2", 0), ("V6", 1), ("V2", 1)]
    rec = json.loads((tmp_path / "results" / "V2" / "seed1.json").read_text())
    assert rec["config"]["train"]["lr"] == 0.002


def test_results_of_another_synthesis_version_are_refused(tmp_path, roots):
    """A record rendered by another synthesis (or by version 1, which wrote no version) is not
    comparable: the rerun names the synthesis version instead of skipping it as done."""
    from src.data.synth import SYNTH_VERSION

    _run(tmp_path, roots, Stubs(), ["V6"], seeds=(0,))
    path = tmp_path / "results" / "V6" / "seed0.json"
    rec = json.loads(path.read_text())
    assert rec["synthesis"] == SYNTH_VERSION
    del rec["synthesis"]
    path.write_text(json.dumps(rec))
    with pytest.raises(StudyError, match=rf"synthesis version=1, this run asks for {SYNTH_VERSION}"):
        _run(tmp_path, roots, Stubs(), ["V6"], seeds=(0,))


def test_forced_v6_makes_its_k_runs_stale(tmp_path, roots):
    _run(tmp_path, roots, Stubs(), ["V6", "K1"], seeds=(0,))
    os.remove(tmp_path / "results" / "V6" / "seed0.json")  # V6 seed 0 will be a new run
    with pytest.raises(StudyError, match=r"\[K1 seed 0\].*train.pretrained"):
        _run(tmp_path, roots, Stubs(), ["V6", "K1"], seeds=(0,))


def test_new_machine_retrains_v6_only_for_k_runs_still_to_do(tmp_path, roots):
    import shutil

    _run(tmp_path, roots, Stubs(), ["V6", "K1"], seeds=(0, 1))
    v6_before = json.loads((tmp_path / "results" / "V6" / "seed0.json").read_text())
    shutil.rmtree(tmp_path / "runs")  # a fresh machine: no checkpoints
    stubs = Stubs()
    _, logs = _run(tmp_path, roots, stubs, ["V6", "K1"], seeds=(0, 1))
    assert stubs.trained == []  # K1 done: V6 not retrained
    stubs = Stubs()
    _, logs = _run(tmp_path, roots, stubs, ["V6", "K1", "K2"], seeds=(0,))
    assert stubs.trained == [("V6", 0), ("K2", 0)]
    assert any("retraining V6 seed 0 for K1/K2 of seed 0" in line for line in logs)
    v6 = json.loads((tmp_path / "results" / "V6" / "seed0.json").read_text())
    assert v6["tasks"] == v6_before["tasks"] and v6["ckpt_sha256"] == v6_before["ckpt_sha256"]
    assert len(v6["retrained"]) == 1 and v6["retrained"][0]["ckpt_sha256"] != v6["ckpt_sha256"]
    k2 = json.loads((tmp_path / "results" / "K2" / "seed0.json").read_text())
    assert k2["pretrained"]["sha256"] == v6["retrained"][0]["ckpt_sha256"]
    stubs = Stubs()  # K1 (old V6) and K2 (retrained) both valid
    _run(tmp_path, roots, stubs, ["V6", "K1", "K2"], seeds=(0,))
    assert stubs.trained == []
    other = tmp_path / "other"  # K2 alone, no V6 anywhere
    with pytest.raises(StudyError, match=r"needs V6 seed 1's best.ckpt: add V6 to --variants"):
        _run(other, roots, Stubs(), ["K2"], seeds=(1,))


def test_a_run_folder_of_another_config_is_not_reused(tmp_path, roots):
    stubs = Stubs()
    _run(tmp_path, roots, stubs, ["V6"], seeds=(0,))
    os.remove(tmp_path / "results" / "V6" / "seed0.json")  # trained, but no results recorded
    with pytest.raises(StudyError, match="holds a run of another config .*train.lr"):
        _run(tmp_path, roots, Stubs(), ["V6"], seeds=(0,), extra=["--train.lr=0.01"])


def test_mean_std_and_paired_differences_by_hand():
    m, s, n = ablations_stats.mean_std([1.0, 2.0, 4.0])
    assert (m, n) == (pytest.approx(7 / 3), 3) and s == pytest.approx(math.sqrt(21 / 9))  # sample std, n - 1
    assert ablations_stats.mean_std([5.0]) == (5.0, None, 1) and ablations_stats.mean_std([None]) == (None, None, 0)
    recs = [_rec(v, s, p) for (v, s), p in RAIN.items()]
    agg = ablations_stats.aggregate(recs)
    assert agg["V6"]["rain_psnr_y"]["mean"] == pytest.approx(30.1666667)
    assert agg["V6"]["rain_psnr_y"]["std"] == pytest.approx(0.7637626)  # sqrt(((1/6)^2+(5/6)^2+(2/3)^2)/2)
    assert agg["V6"]["snow_psnr_y"]["mean"] == pytest.approx(28.1666667)
    paired = ablations_stats.paired_table(recs)
    d = paired["V2"]["rain_psnr_y"]  # V2 - V6: -1.0, -0.5, -0.5
    assert d["diffs"] == {0: pytest.approx(-1.0), 1: pytest.approx(-0.5), 2: pytest.approx(-0.5)}
    assert d["mean"] == pytest.approx(-2 / 3) and d["std"] == pytest.approx(math.sqrt(1 / 12))
    gains = {label: (m, sd, n) for label, m, sd, n in ablations_stats.budget_gain(recs)}
    assert gains["rain renders"][0] == pytest.approx(30.1666667 - 18.0) and gains["rain renders"][2] == 3
    assert gains["rain renders"][1] == pytest.approx(0.7637626)  # the gain's spread is V6's own spread
    assert gains["snow renders"][0] == pytest.approx(28.1666667 - 17.0) and "real rain pairs" not in gains
    k = paired["K2-K1"]["rain_psnr_y"]  # 1.0, 0.5, 0.2
    assert k["mean"] == pytest.approx(1.7 / 3) and k["std"] == pytest.approx(0.4041452)


def _rec(variant, seed, rain, snow=None, steps=4):
    snow = rain - 2 if snow is None else snow
    m = lambda p: {"psnr_y": p, "ssim_y": p / 100, "psnr_rgb": p - 1, "ssim_rgb": p / 200, "n": 3}  # noqa: E731
    return {
        "schema": 1,
        "variant": variant,
        "seed": seed,
        "tasks": {"rain": m(rain), "snow": m(snow)},
        "input": {"rain": m(18.0), "snow": m(17.0)},
        "real": {},
        "real_input": {},
        "config": {
            "train": {"max_steps": steps, "batch_size": 8, "lr": 0.001},
            "model": {"preset": "tiny"},
            "data": {"crop_size": 128, "format": "corpus"},
        },
        "params": 1000,
        "gflops": 1.0,
        "s_per_step": 0.5,
        "blind": {"accuracy": 1.0, "restored": m(rain)},
    }


def test_claim_verdicts_for_each_case():
    v = ablations_stats.verdict
    assert v([1.0, 0.5, 0.5]) == "holds"
    assert v([-1.0, -0.6, -0.8]) == "does not hold"
    assert v([1.0, -0.2, 0.6]) == "not resolved at this scale"  # mixed signs
    assert v([0.1, 1.0]) == "not resolved at this scale"  # same sign, mean .55 < std .64
    assert v([2.0]) == "not resolved at this scale"  # one seed: no spread
    recs = [_rec("V6", s, 30 + s) for s in range(3)]
    recs += [_rec("V2", s, 29 + s, snow=29 + s) for s in range(3)]  # rain +1 every seed; snow -1: V2 better
    recs += [_rec("V1", s, 30 + s + (0.5, -0.4, 0.1)[s]) for s in range(3)]
    recs += [_rec("V3", 0, 29.0)]
    claims = {c["claim"]: c for c in ablations_stats.judge_claims(recs)}
    hard = claims["GKFM/TKFF beat hard sharing"]
    assert hard["tasks"]["rain"]["verdict"] == "holds" and hard["tasks"]["snow"]["verdict"] == "does not hold"
    assert hard["sentence"] == (
        "GKFM/TKFF beat hard sharing (V6 vs V2): holds on rain (V6 − V2 = +1.00 ± 0.00 dB "
        "PSNR-Y, V6 ahead in 3/3 seeds); does not hold on snow (V6 − V2 = -1.00 ± 0.00 dB "
        "PSNR-Y, V6 ahead in 0/3 seeds)."
    )
    assert claims["the knowledge contrast helps"]["tasks"]["rain"]["verdict"] == "not resolved at this scale"
    gated = claims["the gated conv in GLSF-ViT helps"]
    assert gated["tasks"]["rain"]["verdict"] == "not resolved at this scale" and "one seed" in gated["sentence"]
    single = claims["joint training beats single-task training"]
    assert "(V6 vs V4r / V6 vs V4s)" in single["sentence"] and "no seed has both V6 and V4r" in single["sentence"]


def test_report_from_the_jsons_alone(tmp_path, roots):
    stubs = Stubs()
    _run(tmp_path, roots, stubs, ["V6", "V2", "K1", "K2"], seeds=(0, 1, 2))
    import shutil

    shutil.rmtree(tmp_path / "runs")  # no run folders, no checkpoints
    os.remove(tmp_path / "docs" / "study.md")
    table = tmp_path / "docs" / "again.md"
    assert (
        study_py.main(["ablations", "--no_train", "--results", str(tmp_path / "results"), "--table", str(table)]) == 0
    )
    md = table.read_text()
    assert "| **V6** | SmartAssign (full model) | 3 | 30.17 ± 0.76 |" in md
    assert "| V2 − V6 | 3 | -0.67 ± 0.29 |" in md
    assert "| K2 − K1 | 3 | +0.57 ± 0.40 |" in md
    assert "| input | degraded input (no restoration) | – | 18.00 |" in md
    assert "GKFM/TKFF beat hard sharing (V6 vs V2): holds on rain (V6 − V2 = +0.67 ± 0.29 dB" in md
    assert "Unique knowledge matters more than common knowledge (K2 vs K1): holds on rain (K2 − K1 = +0.57 ± 0.40" in md
    assert "Not run yet (no JSON): V1/seed0" in md
    rows = {r["variant"]: r for r in csv.DictReader(open(tmp_path / "docs" / "again.csv"))}
    assert float(rows["V6"]["rain_psnr_y_mean"]) == pytest.approx(30.1666667)
    assert float(rows["V2"]["d_rain_psnr_y_mean"]) == pytest.approx(-2 / 3)
    data = json.loads((tmp_path / "docs" / "again.json").read_text())
    assert len(data["runs"]) == 12 and data["budget"]["seeds"] == [0, 1, 2]
    if importlib.util.find_spec("matplotlib"):  # the figure is optional (requirements-report.txt)
        import cv2

        assert cv2.imread(str(tmp_path / "docs" / "again_psnr.png")) is not None
    with open(tmp_path / "results" / "V2" / "seed0.json") as fh:  # mixed budgets are not averaged
        rec = json.load(fh)
    rec["config"]["train"]["max_steps"] = 8
    with open(tmp_path / "results" / "V2" / "seed0.json", "w") as fh:
        json.dump(rec, fh)
    assert (
        study_py.main(["ablations", "--no_train", "--results", str(tmp_path / "results"), "--table", str(table)]) == 2
    )


def test_strategy_table(tmp_path):
    recs = [_rec(v, s, 30 + s - 0.1 * i) for i, v in enumerate(("V6", "V2", "CS")) for s in range(2)]
    md = ablations_stats.render_markdown(recs, list(ablations.VARIANTS), {}, ablations.STRATEGY_ROWS)
    assert "**Knowledge-assignment strategies (same budget)**" in md
    assert "| CS |  | 0.001 | 1.00 | 0.50 ± 0.00 | 100 ± 0 % |" in md


class FakeRestorer:
    """Returns the input; recognition says rain for every image."""

    outputs = ("derain", "desnow", "recognition")

    def restore(self, image, task="auto", recognize=False):
        from types import SimpleNamespace

        return SimpleNamespace(image=image.astype(np.float32) / 255.0, scores=np.array([1.0, 0.0]), task=task)


def test_score_sets_and_blind_accuracy():
    from src.metrics import score_pair

    rng = np.random.default_rng(0)
    tgt = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(3)]
    noisy = [np.clip(t.astype(int) + rng.integers(-20, 21, t.shape), 0, 255).astype(np.uint8) for t in tgt]
    sets = [
        ("r", "rain", "synthetic", [("a", noisy[0], tgt[0])]),
        ("s", "snow", "synthetic", [("b", noisy[1], tgt[1])]),
        ("real", "rain", "real", [("c", noisy[2], tgt[2])]),
    ]
    out = ablations.score_sets(FakeRestorer(), sets)
    assert out["tasks"]["rain"]["psnr_y"] == pytest.approx(score_pair(noisy[0], tgt[0])["psnr_y"])
    assert out["tasks"]["rain"]["n"] == 1 and out["input"]["snow"]["psnr_y"] == out["tasks"]["snow"]["psnr_y"]
    assert out["real"]["rain"]["psnr_y"] == pytest.approx(score_pair(noisy[2], tgt[2])["psnr_y"])
    assert out["blind"]["accuracy"] == 0.5 and out["blind"]["n"] == 2 and out["blind"]["real_accuracy"] == 1.0
    assert ablations.score_sets(FakeRestorer(), sets, blind=False)["blind"] is None


def test_kodak_renders_match_the_test_report(tmp_path):
    import cv2
    from src.data.synth import add_snow
    from src.report.testset import KODAK_RENDERS

    kodak = tmp_path / "clean" / "kodak24"
    kodak.mkdir(parents=True)
    rng = np.random.default_rng(1)
    imgs = [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(2)]
    for i, img in enumerate(imgs):
        cv2.imwrite(str(kodak / f"kodim{i + 1:02d}.png"), img[:, :, ::-1])
    sets = ablations.corpus_test_sets({"roots": {"clean": str(tmp_path / "clean"), "real": ""}}, ("snow",))
    assert [(s[0], s[1], s[2], len(s[3])) for s in sets] == [("kodak24 snow", "snow", "synthetic", 2)]
    _, _, level, seed = next(r for r in KODAK_RENDERS if r[1] == "snow")
    np.testing.assert_array_equal(sets[0][3][1][1], add_snow(imgs[1], np.random.default_rng((seed, 1)), level=level))
    with pytest.raises(StudyError, match="Kodak24"):
        ablations.corpus_test_sets({"roots": {"clean": str(tmp_path / "nope")}}, ("rain",))


def test_command_line_errors(capsys):
    """An unknown command or option stops with one error line (nothing runs)."""
    for argv in (["nope"], ["ablations", "--no_train", "stray"]):
        with pytest.raises(SystemExit) as exc:
            study_py.main(argv)
        assert exc.value.code == 2
        errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("study.py")]
        assert len(errors) == 1 and ("invalid choice: 'nope'" in errors[0] or "stray" in errors[0])
    assert study_py.main(["ablations", "--no_train", "--variants", "V7", "--results", "nowhere"]) == 2
    assert "--variants: unknown V7" in capsys.readouterr().err


def test_fidelity_gets_the_rest_of_the_command_line(monkeypatch):
    from src.study import fidelity

    seen = []
    monkeypatch.setattr(fidelity, "main", lambda argv: seen.append(argv) or 3, raising=False)
    assert study_py.main(["fidelity", "report", "--seeds", "0"]) == 3
    assert seen == [["report", "--seeds", "0"]]


def _tiny_corpus(root):
    """A few clean photos for training/validation, two 'Kodak' photos and one real pair."""
    import cv2
    from helpers import smooth_image

    rng = np.random.default_rng(0)

    def put(folder, n, h=72, w=80):
        os.makedirs(folder, exist_ok=True)
        for i in range(n):
            img = (smooth_image(rng, h, w).transpose(1, 2, 0) * 255).round().astype(np.uint8)
            cv2.imwrite(os.path.join(folder, f"p{i}.png"), img)

    put(os.path.join(root, "clean", "bsds500", "train"), 4)
    put(os.path.join(root, "clean", "bsds500", "val"), 1)
    put(os.path.join(root, "clean", "kodak24"), 1, 64, 96)
    put(os.path.join(root, "real", "heavy_rain_pairs", "input"), 1)
    put(os.path.join(root, "real", "heavy_rain_pairs", "target"), 1)
    return [f"--data.roots.clean={root}/clean", f"--data.roots.real={root}/real"]


@pytest.mark.slow
def test_real_two_step_runs_for_two_seeds(tmp_path):
    """V6 for 2 steps with seeds 0 and 1 on a tiny corpus: separate folders, real metrics, a rerun trains nothing."""
    argv = (
        [
            "ablations",
            "--variants",
            "V6",
            "--seeds",
            "0,1",
            "--steps",
            "2",
            "--quiet",
            "--out",
            str(tmp_path / "runs"),
            "--results",
            str(tmp_path / "results"),
            "--table",
            str(tmp_path / "docs" / "study.md"),
        ]
        + _tiny_corpus(str(tmp_path / "data"))
        + [
            "--data.corpus.dirs=[bsds500/train]",
            "--data.corpus.exclude_like=[]",
            "--data.crop_size=64",
            "--train.batch_size=4",
            "--train.val_max_images=1",
            "--train.val_crop=0",
            "--data.num_workers=1",
            "--train.device_target=CPU",
        ]
    )
    assert study_py.main(argv) == 0
    recs = [json.loads((tmp_path / "results" / "V6" / f"seed{s}.json").read_text()) for s in (0, 1)]
    for s, rec in enumerate(recs):
        assert rec["seed"] == s and rec["steps"] == 2 and rec["config"]["train"]["seed"] == s
        assert rec["tasks"]["rain"]["n"] == 2 and rec["tasks"]["snow"]["n"] == 1 and rec["real"]["rain"]["n"] == 1
        assert rec["params"] > 0 and rec["gflops"] > 0 and 0 <= rec["blind"]["accuracy"] <= 1
        assert (tmp_path / "runs" / "V6" / f"seed{s}" / "ckpt").is_dir()
    assert recs[0]["ckpt_sha256"] != recs[1]["ckpt_sha256"]
    assert recs[0]["tasks"]["rain"]["psnr_y"] != recs[1]["tasks"]["rain"]["psnr_y"]
    log0 = (tmp_path / "runs" / "V6" / "seed0" / "log.csv").read_text()
    assert study_py.main(argv) == 0  # rerun: skipped
    assert (tmp_path / "runs" / "V6" / "seed0" / "log.csv").read_text() == log0
    assert "| **V6** | SmartAssign (full model) | 2 |" in (tmp_path / "docs" / "study.md").read_text()


@pytest.mark.slow
def test_folder_format_runs_single_task_and_strategies(tmp_path):
    """The demo recipe (data.test_sets) for V4r and CS at 4 steps, seed 0 (V6 runs on the corpus in
    test_real_two_step_runs_for_two_seeds): V4r is scored on rain only, every number is eval.py's on
    the run's checkpoint, blind mode and FLOPs per strategy, and a rerun trains nothing."""
    from helpers import tiny_demo_overrides, write_demo_tree

    demo = write_demo_tree(str(tmp_path / "demo"))
    results, table = tmp_path / "results", tmp_path / "docs" / "study.md"
    argv = [
        "ablations",
        "--config",
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "demo.yaml"),
        "--variants",
        "V4r,CS",
        "--seeds",
        "0",
        "--steps",
        "4",
        "--quiet",
        "--out",
        str(tmp_path / "runs"),
        "--results",
        str(results),
        "--table",
        str(table),
        *tiny_demo_overrides(demo),
    ]
    assert study_py.main(argv) == 0
    recs = {v: json.loads((results / v / "seed0.json").read_text()) for v in ("V4r", "CS")}
    for key, rec in recs.items():
        run = tmp_path / "runs" / key / "seed0"
        assert rec["steps"] == 4 and rec["ckpt"] == "best" and rec["params"] > 0 and rec["train_seconds"] > 0
        assert rec["eval_protocol"]["kind"] == "test sets" and (run / "train.log").is_file()
        summary = json.loads((run / "eval" / "summary.json").read_text())
        assert rec["tasks"]["rain"]["psnr_y"] == pytest.approx(summary["tasks"]["rain"]["restored"]["psnr_y"])
        if key == "V4r":
            assert list(summary["sets"]) == ["demo_rain/test"] and "snow" not in rec["tasks"] and not rec["blind"]
            continue
        assert rec["tasks"]["snow"]["ssim_rgb"] == pytest.approx(summary["tasks"]["snow"]["restored"]["ssim_rgb"])
        blind = json.loads((run / "eval_auto" / "summary.json").read_text())
        right = sum(s["recognized"].get(s["task"], 0) for s in blind["sets"].values())
        assert rec["blind"]["accuracy"] == pytest.approx(right / 4)  # 2 rain + 2 snow test pairs
        assert rec["blind"]["restored"]["psnr_y"] == pytest.approx(blind["all"]["restored"]["psnr_y"])
    assert recs["CS"]["params"] != recs["V4r"]["params"] and recs["CS"]["gflops"] != recs["V4r"]["gflops"] > 0
    md = table.read_text()
    assert "Budget per run: 4 steps, tiny preset, crop 64, batch 4" in md
    assert "**Knowledge-assignment strategies (same budget)**" in md
    log_csv = tmp_path / "runs" / "CS" / "seed0" / "log.csv"
    before = log_csv.read_text()
    with capture() as logs:
        assert study_py.main(argv) == 0
    assert sum(line.startswith("[") and "done earlier" in line for line in logs) == 2
    assert log_csv.read_text() == before
