"""Load a scenario: YAML → typed model → generators and sinks → cross-checks, all errors at once.

Validation is pure: it reads the file and the environment, never connects to anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from headwater._plugins import suggest
from headwater.errors import HeadwaterError, Problem, ScenarioError
from headwater.generators import GENERATORS, generator_name, parse_field
from headwater.generators.base import FieldGen
from headwater.generators.identity import Seq, Uuid
from headwater.generators.ref import Ref
from headwater.generators.text import Format
from headwater.scenario.errors import problems as pyd_problems
from headwater.scenario.model import Scenario
from headwater.scenario.yamlio import Document, Loc, load_yaml, load_yaml_file


def load(source: str | Path, *, env: dict[str, str] | None = None) -> Scenario:
    """Load and validate a scenario file; raises ScenarioError listing every problem."""
    return from_document(load_yaml_file(source, env))


def check(source: str | Path, *, env: dict[str, str] | None = None) -> tuple[Scenario, list[str]]:
    """Validate without needing secrets: unset variables stay as written and are returned."""
    doc = load_yaml_file(source, env, keep_unset=True)
    return from_document(doc), doc.unset


def loads(text: str, *, file: str | None = None, env: dict[str, str] | None = None) -> Scenario:
    """Load and validate a scenario from YAML text."""
    return from_document(load_yaml(text, file, env))


def from_document(doc: Document) -> Scenario:
    if not isinstance(doc.data, dict):
        raise ScenarioError(doc.problem((), "a scenario is a mapping with at least 'entities'"))
    try:
        scenario = Scenario.model_validate(doc.data)
    except ValidationError as exc:
        raise ScenarioError(pyd_problems(exc, doc, (), Scenario)) from None
    checker = _Checker(doc, scenario)
    scenario = checker.run()
    if checker.problems:
        raise ScenarioError(checker.problems)
    return scenario


class _Checker:
    def __init__(self, doc: Document, scenario: Scenario):
        self.doc, self.scenario = doc, scenario
        self.problems: list[Problem] = []

    def add(self, loc: Loc, message: str) -> None:
        self.problems.append(self.doc.problem(loc, message))

    def run(self) -> Scenario:
        for section in ("entities", "sinks"):
            for name in getattr(self.scenario, section):
                if why := path_name_problem(name):
                    self.add((section, name), f"the name {name!r} {why}")
        entities = {}
        for name, ent in self.scenario.entities.items():
            gens = {
                f: g
                for f, spec in ent.fields.items()
                if (g := self.parse_field(("entities", name, "fields", f), spec))
            }
            entities[name] = ent.model_copy(update={"fields": gens})
        scenario = self.scenario.model_copy(update={"entities": entities})
        if self.problems:
            return scenario
        for name in entities:
            self.check_entity(scenario, name)
        self.check_parents(scenario)
        if not self.problems:
            self.check_types(scenario)
        sinks = {
            n: c for n, spec in scenario.sinks.items() if (c := self.parse_sink(scenario, n, spec))
        }
        if scenario.serve is not None:
            for sub, message in scenario.serve.check(scenario):
                self.add(("serve", *sub), message)
        return scenario.model_copy(update={"sinks": sinks})

    def parse_field(self, loc: Loc, spec: Any) -> FieldGen | None:
        try:
            return parse_field(spec)
        except ValidationError as exc:
            cls = GENERATORS.get(generator_name(spec))
            self.problems += pyd_problems(exc, self.doc, loc, cls)
        except (ValueError, HeadwaterError) as exc:
            self.add(loc, str(exc))
        return None

    def check_entity(self, scenario: Scenario, name: str) -> None:
        ent = scenario.entities[name]
        base: Loc = ("entities", name)
        gens = ent.generators()
        fields = list(gens)
        if ent.key is not None and ent.key not in gens:
            self.add(base + ("key",), f"unknown field '{ent.key}'{suggest(ent.key, fields)}")
        elif not _unique(gens, ent.key_field):
            self.add(
                base + ("fields", ent.key_field),
                f"the key field '{ent.key_field}' must use seq or uuid (or a format of one) so keys are unique",
            )
        for fname, gen in gens.items():
            floc = base + ("fields", fname)
            for dep in sorted(gen.depends()):
                if dep not in gens:
                    self.add(floc, f"unknown field '{dep}'{suggest(dep, fields)}")
            for ref in _refs(gen):
                if ref.entity not in scenario.entities:
                    self.add(
                        floc + ("ref",),
                        f"unknown entity '{ref.entity}'{suggest(ref.entity, scenario.entities)}",
                    )
                elif ref.field != scenario.entities[ref.entity].key_field:
                    key = scenario.entities[ref.entity].key_field
                    self.add(
                        floc + ("ref",),
                        f"'{ref.field}' is not the key of '{ref.entity}': reference '{ref.entity}.{key}'",
                    )
        cycle = _field_cycle({f: g.depends() & set(gens) for f, g in gens.items()})
        if cycle:
            self.add(base + ("fields", cycle[0]), f"cycle in derived fields: {' → '.join(cycle)}")
        for i, upd in enumerate(ent.updates):
            for j, f in enumerate(upd.fields):
                if f not in gens:
                    self.add(
                        base + ("updates", i, "fields", j),
                        f"unknown field '{f}'{suggest(f, fields)}",
                    )
                elif f == ent.key_field:
                    self.add(base + ("updates", i, "fields", j), "the key cannot be updated")
        for i, index in enumerate(ent.indexes):
            for j, f in enumerate(index):
                if f not in gens:
                    self.add(base + ("indexes", i, j), f"unknown field '{f}'{suggest(f, fields)}")
        if ent.parent is not None:
            p = ent.parent.entity
            if p not in scenario.entities:
                self.add(
                    base + ("parent", "entity"),
                    f"unknown entity '{p}'{suggest(p, scenario.entities)}",
                )
            elif not any(isinstance(g, Ref) and g.entity == p for g in gens.values()):
                key = scenario.entities[p].key_field
                self.add(
                    base + ("parent",),
                    f"a child of '{p}' needs a field {{ref: {p}.{key}}} holding its parent's key",
                )
        elif ent.arrivals is None and ent.initial == 0:
            self.add(base, "the entity never gets rows: give initial, arrivals or parent")

    def check_parents(self, scenario: Scenario) -> None:
        for name in scenario.entities:
            seen, cur = [name], scenario.entities[name].parent
            while cur is not None and cur.entity in scenario.entities:
                if cur.entity in seen:
                    self.add(
                        ("entities", name, "parent"),
                        f"parent cycle: {' → '.join([*seen, cur.entity])}",
                    )
                    break
                seen.append(cur.entity)
                cur = scenario.entities[cur.entity].parent

    def check_types(self, scenario: Scenario) -> None:
        from headwater.world.schema import _Env

        env = _Env(scenario, "")
        for name, ent in scenario.entities.items():
            fenv = env.for_entity(name)
            for fname in ent.generators():
                try:
                    fenv.field_type(fname)
                except ValueError as exc:
                    self.add(("entities", name, "fields", fname), str(exc))

    def parse_sink(self, scenario: Scenario, name: str, spec: Any) -> Any:
        from headwater.sinks import SINKS

        loc: Loc = ("sinks", name)
        if not isinstance(spec, dict) or "kind" not in spec:
            self.add(loc, f"a sink needs 'kind', one of: {', '.join(SINKS.names())}")
            return None
        kind = spec["kind"]
        if kind not in SINKS:
            self.add(
                loc + ("kind",), f"unknown sink kind '{kind}'{suggest(str(kind), SINKS.names())}"
            )
            return None
        try:
            cls = SINKS.get(kind)
        except HeadwaterError as exc:
            self.add(loc + ("kind",), str(exc))
            return None
        try:
            config = cls.Config.model_validate(spec)
        except ValidationError as exc:
            self.problems += pyd_problems(exc, self.doc, loc, cls.Config)
            return None
        for i, e in enumerate(config.entities or []):
            if e not in scenario.entities:
                self.add(
                    loc + ("entities", i), f"unknown entity '{e}'{suggest(e, scenario.entities)}"
                )
        for sub, message in cls.check(name, config, scenario):
            self.add(loc + sub, message)
        if config.faults is not None:
            self.check_faults(scenario, loc, config, cls)
        return config

    def check_faults(self, scenario: Scenario, loc: Loc, config: Any, cls: Any) -> None:
        from headwater.faults import check_faults
        from headwater.world.schema import world_schemas

        try:
            every = world_schemas(scenario)
        except ScenarioError:  # already reported as field problems
            return
        wanted = config.entities
        schemas = {e: s for e, s in every.items() if not wanted or e in wanted}
        for sub, message in check_faults(config.faults, schemas, cls.capabilities, cls.kind):
            self.add(loc + ("faults", *sub), message)


def path_name_problem(name: str) -> str | None:
    """Why an entity or sink name cannot be one folder or file name (the files and logs
    sinks and the ledger write under them), or None."""
    if name in ("", ".", "..") or any(c in name for c in "/\\\x00"):
        return (
            "becomes a folder and file name, so it cannot be empty, . or .., nor hold / \\ "
            "or NUL; rename it"
        )
    return None


def _unique(gens: dict[str, FieldGen], name: str) -> bool:
    """Keys must be unique by construction: seq, uuid, or a template over one of them."""
    gen = gens[name]
    if isinstance(gen, Seq | Uuid):
        return True
    return isinstance(gen, Format) and any(
        isinstance(gens.get(d), Seq | Uuid) for d in gen.depends()
    )


def _refs(gen: FieldGen) -> list[Ref]:
    if isinstance(gen, Ref):
        return [gen]
    inner = getattr(gen, "object", None)
    if isinstance(inner, dict):
        return [r for g in inner.values() for r in _refs(g)]
    lst = getattr(gen, "list", None)
    return _refs(lst.of) if lst is not None and hasattr(lst, "of") else []


def _field_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A dependency cycle as a path (a → b → a), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None


def field_order(gens: dict[str, FieldGen]) -> list[str]:
    """Fields in an order where every field comes after those it reads (declaration order otherwise)."""
    done: list[str] = []
    placed: set[str] = set()

    def place(f: str) -> None:
        if f in placed:
            return
        placed.add(f)
        for dep in sorted(gens[f].depends() & set(gens)):
            place(dep)
        done.append(f)

    for f in gens:
        place(f)
    return done
