"""Configuration: YAML files (``yaml.safe_load``) with ``_base_`` inheritance and ``--key=value`` overrides.

A config file is a nested mapping. A file may name a parent with ``_base_: other.yaml`` (relative to
the file); the child is merged over the parent. Every scalar key can be overridden on the command
line as ``--section.key=value`` or, when the leaf name is unique, as ``--key=value``. Values are
parsed as YAML scalars and must match the type of the value they replace; unknown keys are errors.
"""

import copy
import os

import yaml
from .errors import UsageError


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


def read_yaml(path, _seen=None):
    """Read one YAML config file, resolving its ``_base_`` chain."""
    path = os.path.abspath(path)
    _seen = _seen or []
    if path in _seen:
        raise ConfigError(f"{path}: '_base_' chain loops back to itself")
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path} (check --config_path)")
    with open(path, encoding="utf-8") as fh:
        try:
            data = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__}: {exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of keys to values")
    base = data.pop("_base_", None)
    if base is None:
        return data
    bases = base if isinstance(base, list) else [base]
    merged = {}
    for b in bases:
        merged = _merge(merged, read_yaml(os.path.join(os.path.dirname(path), b), _seen + [path]))
    return _merge(merged, data)


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
                raise ConfigError(f"--{key}: unknown config key (see the YAML file for valid keys)")
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
