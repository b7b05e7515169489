"""The spawn form: HTML from the policy, and form data back to ``user_options``.

The form only ever offers what the user may have (their groups, the
environments of the chosen group, resources up to the caps, the group's GPU
types) and a small script keeps the choices consistent as the user changes
group or environment. It is a convenience: whatever comes back is validated
again on the server by :func:`~mofang_spawner.planning.choices_from_options`
and :func:`~mofang_spawner.planning.plan_server`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from mofang_spawner.errors import InvalidRequestError
from mofang_spawner.planning import (
    OPTION_KEYS,
    Policy,
    allowed_templates,
    member_groups,
    resource_caps,
)

__all__ = ["form_options", "render_form"]


def render_form(groups: Sequence[str], policy: Policy) -> str:
    """The HTML options form for a user who is a member of ``groups``."""
    mine = member_groups(groups, policy)
    if not mine:
        return (
            '<div class="alert alert-warning" role="alert">You are not a member of any '
            "resource group yet, so no server can be started. Ask an administrator to add "
            "you to one.</div>"
        )
    # Everything the script needs to keep the form consistent, per group.
    data: dict[str, Any] = {}
    for group in mine:
        templates = {}
        for template in allowed_templates(group, policy):
            caps = resource_caps(template, group)
            templates[template.name] = {
                "default": template.default.model_dump(),
                "max": caps.model_dump(),
            }
        data[group.name] = {
            "templates": templates,
            "gpu_types": [
                {"name": t.name, "title": t.title}
                for name in group.gpu_types
                if (t := policy.gpu_type(name)) is not None
            ],
        }
    parts = [
        '<div class="mofang-form">',
        _STYLE,
        _group_field(mine),
        _template_field(policy),
        '<fieldset class="mofang-resources"><legend>Resources</legend>',
        _number_field("cpu", "CPU cores", step="0.5"),
        _number_field("memory_gib", "Memory (GiB)", step="0.5"),
        _number_field("disk_gib", "Disk (GiB)", step="1"),
        _number_field("gpus", "GPUs", step="1"),
        '<div class="form-group mofang-gpu-type"><label for="mofang-gpu_type">GPU type</label>'
        '<select class="form-control" id="mofang-gpu_type" name="gpu_type"></select></div>',
        "</fieldset>",
        f'<script type="application/json" id="mofang-form-data">{_json(data)}</script>',
        _SCRIPT,
        "</div>",
    ]
    return "\n".join(parts)


def form_options(formdata: Mapping[str, Sequence[Any]]) -> dict[str, str]:
    """``user_options`` from the form's POST data (each field a list of strings).

    JupyterHub's own fields (``_xsrf``: names starting with ``_``) are dropped;
    any other field the form does not have is refused, like an unknown REST
    option, so a hand-edited form (an ``image``, a ``volumes`` field) gets a
    message instead of silently nothing. A field sent twice is refused, as no
    real form does that.
    """
    unknown = sorted(key for key in formdata if key not in OPTION_KEYS and not key.startswith("_"))
    if unknown:
        raise InvalidRequestError(
            f"Unknown form field(s): {', '.join(unknown)}. "
            f"The form's fields are: {', '.join(sorted(OPTION_KEYS))}."
        )
    options: dict[str, str] = {}
    for key, values in formdata.items():
        if key not in OPTION_KEYS:
            continue
        if len(values) != 1:
            raise InvalidRequestError(f"Form field '{key}' must be sent exactly once.")
        value = values[0]
        if not isinstance(value, str):
            raise InvalidRequestError(f"Form field '{key}' must be text.")
        options[key] = value.strip()
    return options


def _group_field(mine: Sequence[Any]) -> str:
    options = "".join(f'<option value="{escape(g.name)}">{escape(g.title)}</option>' for g in mine)
    hint = "" if len(mine) > 1 else ' <small class="text-muted">(your only group)</small>'
    return (
        '<div class="form-group"><label for="mofang-group">Resource group</label>'
        f'{hint}<select class="form-control" id="mofang-group" name="group">{options}</select>'
        "</div>"
    )


def _template_field(policy: Policy) -> str:
    rows = []
    for index, template in enumerate(policy.templates):
        frameworks = ", ".join(template.frameworks)
        gpu = " · GPU" if template.gpu_allowed else " · CPU only"
        checked = " checked" if index == 0 else ""
        rows.append(
            f'<label class="mofang-template" data-template="{escape(template.name)}">'
            f'<input type="radio" name="template" value="{escape(template.name)}"{checked}>'
            f" <strong>{escape(template.title)}</strong>"
            f' <small class="text-muted">{escape(frameworks)}{gpu}</small>'
            f"<br><span>{escape(template.description)}</span>"
            f'<br><code class="mofang-image">{escape(template.image)}</code></label>'
        )
    return (
        '<fieldset class="mofang-templates"><legend>Environment</legend>'
        + "".join(rows)
        + "</fieldset>"
    )


def _number_field(name: str, label: str, *, step: str) -> str:
    return (
        f'<div class="form-group mofang-{name}"><label for="mofang-{name}">{label}</label>'
        f' <small class="text-muted" id="mofang-{name}-max"></small>'
        f'<input class="form-control" type="number" id="mofang-{name}" name="{name}"'
        f' step="{step}" min="0"></div>'
    )


def _json(data: Any) -> str:
    # Inside <script>, "</" would end the element: escape it.
    return json.dumps(data).replace("</", "<\\/")


_STYLE = """<style>
.mofang-form fieldset { margin-bottom: 1em; }
.mofang-template { display: block; font-weight: normal; padding: .5em; margin: .25em 0;
  border: 1px solid #ddd; border-radius: 4px; cursor: pointer; }
.mofang-template.mofang-hidden, .mofang-hidden { display: none; }
.mofang-image { font-size: 85%; }
</style>"""

# Keeps the form consistent: templates of the chosen group, caps as max,
# defaults as values, GPU fields only where GPUs are possible.
_SCRIPT = """<script>
(function () {
  var data = JSON.parse(document.getElementById('mofang-form-data').textContent);
  var group = document.getElementById('mofang-group');
  var fields = ['cpu', 'memory_gib', 'disk_gib', 'gpus'];
  function chosenTemplate() {
    var checked = document.querySelector('input[name=template]:checked');
    return checked ? checked.value : null;
  }
  function refresh(resetValues) {
    var g = data[group.value];
    var labels = document.querySelectorAll('.mofang-template');
    var current = chosenTemplate();
    if (!g.templates[current]) { current = Object.keys(g.templates)[0]; resetValues = true; }
    labels.forEach(function (label) {
      var name = label.getAttribute('data-template');
      var allowed = Object.prototype.hasOwnProperty.call(g.templates, name);
      label.classList.toggle('mofang-hidden', !allowed);
      var input = label.querySelector('input');
      input.disabled = !allowed;
      input.checked = name === current;
    });
    var t = g.templates[current];
    fields.forEach(function (f) {
      var input = document.getElementById('mofang-' + f);
      input.max = t.max[f];
      if (resetValues || input.value === '') { input.value = Math.min(t['default'][f], t.max[f]); }
      document.getElementById('mofang-' + f + '-max').textContent = '(at most ' + t.max[f] + ')';
    });
    var noGpu = t.max.gpus === 0;
    document.querySelector('.mofang-gpus').classList.toggle('mofang-hidden', noGpu);
    document.querySelector('.mofang-gpu-type').classList.toggle('mofang-hidden', noGpu);
    var select = document.getElementById('mofang-gpu_type');
    select.innerHTML = '';
    g.gpu_types.forEach(function (gt) {
      var o = document.createElement('option'); o.value = gt.name; o.textContent = gt.title;
      select.appendChild(o);
    });
    select.disabled = noGpu;
    document.getElementById('mofang-gpus').disabled = noGpu;
  }
  group.addEventListener('change', function () { refresh(true); });
  document.querySelectorAll('input[name=template]').forEach(function (input) {
    input.addEventListener('change', function () { refresh(true); });
  });
  refresh(true);
})();
</script>"""
