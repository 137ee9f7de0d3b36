"""Configuration: YAML files (``yaml.safe_load``) with ``_base_`` inheritance and ``--key=value`` overrides.

A config file is a nested mapping. A file may name a parent with ``_base_: other.yaml`` (relative to
the file); the child is merged over the parent. Every scalar key can be overridden on the command
line as ``--section.key=value`` or, when the leaf name is unique, as ``--key=value``. Values are
parsed as YAML scalars and must match the type of the value they replace; unknown keys are errors.

The valid keys are those of the reference configuration, configs/photos.yaml with its ``_base_``
chain (smartassign.yaml: model, loss, train; data_defaults.yaml and datasets.yaml: data; photos.yaml
adds data.corpus). Every file of a chain is checked against it, so a misspelt key stops the run
naming the file that wrote it. Sections whose entries the user names (``OPEN``) take any name.
"""

import copy
import functools
import os

import yaml
from .errors import UsageError

REFERENCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "photos.yaml")
# Sections whose entries the user names: any data root; any benchmark, whose own keys are those some
# benchmark of the reference uses (task, root, holdout, splits), one level deep: its splits and
# holdout are checked where they are read (src/data/readers.py).
OPEN = {"data.roots": 0, "data.benchmarks": 1}


class ConfigError(UsageError):
    """A configuration problem, with a message naming the file or key and what to do."""


class Config(dict):
    """A nested dict with attribute access (``cfg.train.lr``)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(f"config has no key '{name}'") from exc

    def __setattr__(self, name, value):
        self[name] = value

    def __deepcopy__(self, memo):
        return Config({k: copy.deepcopy(v, memo) for k, v in self.items()})

    def to_dict(self):
        return {k: (v.to_dict() if isinstance(v, Config) else v) for k, v in self.items()}


def _wrap(obj):
    if isinstance(obj, dict):
        return Config({k: _wrap(v) for k, v in obj.items()})
    return obj


def _merge(base, over, path=""):
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, f"{path}{key}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def _shown(path):
    """``path`` as a message names it: relative to the working folder when inside it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def read_yaml(path, check=True, _seen=()):
    """Read one YAML config file, resolving its ``_base_`` chain; with ``check``, every file's keys
    must be keys of the reference configuration (:func:`check_keys`)."""
    path = os.path.abspath(path)
    if path in _seen:
        raise ConfigError(f"{_shown(path)}: '_base_' chain loops back to itself")
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path} (check --config_path)")
    with open(path, encoding="utf-8") as fh:
        try:
            data = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{_shown(path)}: not valid YAML ({exc.__class__.__name__}: {exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{_shown(path)}: a config file must be a mapping of keys to values")
    base = data.pop("_base_", None)
    if check:
        check_keys(data, _shown(path))
    if base is None:
        return data
    bases = base if isinstance(base, list) else [base]
    merged = {}
    for b in bases:
        merged = _merge(merged, read_yaml(os.path.join(os.path.dirname(path), b), check, _seen + (path,)))
    return _merge(merged, data)


@functools.lru_cache(maxsize=1)
def reference():
    """The reference configuration's resolved tree: its sections and keys are the valid ones."""
    return read_yaml(REFERENCE, check=False)


def _listed(keys):
    return ", ".join(sorted(map(str, keys)))


def check_keys(tree, where, schema=None, section="", depth=None):
    """Raise a one-line ConfigError at the first key of ``tree`` (the file ``where``) that the
    reference configuration lacks, listing the valid keys of its section; ``depth`` limits how many
    levels are checked (entries of ``OPEN`` sections)."""
    schema = reference() if schema is None else schema
    if depth == 0:
        return
    if section in OPEN:
        entry = {}
        for value in schema.values():
            entry.update(value if isinstance(value, dict) else {})
        for name, value in tree.items():
            if isinstance(value, dict):
                check_keys(value, where, entry, f"{section}.{name}", OPEN[section])
        return
    for key, value in tree.items():
        name = f"{section}.{key}" if section else str(key)
        if key not in schema:
            if section:
                raise ConfigError(f"{where}: unknown key {name}; valid keys of {section}: {_listed(schema)}")
            raise ConfigError(f"{where}: unknown key {name}; valid top-level keys: _base_, {_listed(schema)}")
        if isinstance(schema[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{where}: {name} is a section; write its keys under it ({name}.<key>: value) or drop the line"
                )
            check_keys(value, where, schema[key], name, None if depth is None else depth - 1)
        elif isinstance(value, dict):
            raise ConfigError(f"{where}: {name} takes a value, not a section of keys")


def _leaves(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _coerce(key, old, text):
    try:
        new = yaml.safe_load(text) if text != "" else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--{key}: cannot parse value {text!r}") from exc
    if old is None or new is None:
        return new
    if isinstance(old, bool):
        if not isinstance(new, bool):
            raise ConfigError(f"--{key}: expected true or false, got {text!r}")
        return new
    if isinstance(old, float) and isinstance(new, int) and not isinstance(new, bool):
        return float(new)
    if isinstance(old, (int, float)) and isinstance(new, str):
        try:
            return type(old)(float(new)) if isinstance(old, float) else int(new)
        except ValueError:
            pass
    if isinstance(old, list) and not isinstance(new, list):
        raise ConfigError(f"--{key}: expected a list such as [a, b], got {text!r}")
    if isinstance(old, dict):
        raise ConfigError(f"--{key}: is a section; override its keys (--{key}.name=value)")
    if type(old) is not type(new) and not (isinstance(old, str) and isinstance(new, (int, float))):
        raise ConfigError(f"--{key}: expected {type(old).__name__}, got {text!r}")
    if isinstance(old, str) and not isinstance(new, str):
        new = text
    return new


def apply_overrides(tree, overrides):
    """Apply ``key=value`` strings (dotted or unique leaf names) to a nested dict, in place."""
    leaves = dict(_leaves(tree))
    for item in overrides:
        item = item[2:] if item.startswith("--") else item
        if "=" not in item:
            raise ConfigError(f"--{item}: overrides are written --key=value")
        key, text = item.split("=", 1)
        if key not in leaves:
            matches = [k for k in leaves if k.split(".")[-1] == key]
            if len(matches) == 1:
                key = matches[0]
            elif len(matches) > 1:
                raise ConfigError(f"--{key}: ambiguous, use one of " + ", ".join("--" + m for m in matches))
            else:
                section, _, _ = key.rpartition(".")
                node = tree
                for part in section.split(".") if section else ():
                    node = node.get(part) if isinstance(node, dict) else None
                valid = f"; valid keys of {section}: {_listed(node)}" if section and isinstance(node, dict) else ""
                raise ConfigError(f"--{key}: unknown config key{valid}")
        value = _coerce(key, leaves[key], text)
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value
        leaves[key] = value
    return tree


def split_cli(argv, default_config):
    """``argv`` → (config path, ["key=value", ...]); accepts ``--key=value`` and ``--key value``."""
    argv = list(argv)
    items, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            raise ConfigError(f"unexpected argument {arg!r}; options are written --key=value")
        if "=" not in arg and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            arg = f"{arg}={argv[i + 1]}"
            i += 1
        items.append(arg[2:])
        i += 1
    path = default_config
    rest = []
    for item in items:
        if item.startswith("config_path="):
            path = item.split("=", 1)[1]
        else:
            rest.append(item)
    return path, rest


def default_output_dir(path):
    """``runs/<config file name>``: the run folder of a config that does not set ``train.output_dir``."""
    return os.path.join("runs", os.path.splitext(os.path.basename(path))[0])


def load_config(path, overrides=()):
    """Load ``path`` (with its ``_base_`` chain), apply overrides, return a :class:`Config`.

    An empty ``train.output_dir`` (the default in configs/smartassign.yaml) becomes
    ``runs/<config file name>``, so every config, ablation or strategy gets its own run folder
    unless the file itself or the command line names one."""
    tree = read_yaml(path)
    apply_overrides(tree, list(overrides))
    train = tree.get("train")
    if isinstance(train, dict) and train.get("output_dir", None) == "":
        train["output_dir"] = default_output_dir(path)
    cfg = _wrap(tree)
    cfg["config_path"] = os.path.abspath(path)
    return cfg


def check_choice(cfg_value, name, choices):
    """Raise a ConfigError naming the key when ``cfg_value`` is not one of ``choices``."""
    if cfg_value not in choices:
        raise ConfigError(f"{name}={cfg_value!r} is not valid; choose one of {', '.join(map(str, choices))}")
    return cfg_value


def whole_number(value):
    """``value`` as an int when it is a whole number (3, 3.0, "3"), else None."""
    try:
        number = int(value)
        return number if number == float(value) else None
    except (TypeError, ValueError):
        return None


def dump(cfg):
    """The resolved config as YAML text (for logs and run folders)."""
    data = cfg.to_dict() if isinstance(cfg, Config) else cfg
    return yaml.safe_dump(data, sort_keys=False)
