"""The return policy new returns start with: the file `RETURN_POLICY_FILE` names, else the one
shipped with the package (starter/return_policy.json). Read where a return starts, never before."""

from __future__ import annotations

from importlib import resources

from workflows.policy import ReturnPolicy, check_every_figure_applies, load_policy

PACKAGED_POLICY = "return_policy.json"


def load_return_policy(path: str | None) -> ReturnPolicy:
    if path:
        return load_policy(path)
    policy = ReturnPolicy.model_validate_json(resources.files("starter").joinpath(PACKAGED_POLICY).read_bytes())
    check_every_figure_applies(policy)  # held to the same rule as a shop's own file
    return policy
