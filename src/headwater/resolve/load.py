"""Load a scenario: YAML → document → generators, sinks, serve → cross-checks → the resolved
Scenario, all errors at once.

Validation is pure: it reads the file and the environment, never connects to anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from headwater._plugins import suggest
from headwater.errors import HeadwaterError, Problem, ScenarioError
from headwater.generators import GENERATORS, generator_name, parse_field
from headwater.generators.base import FieldGen, field_order
from headwater.generators.identity import Seq, Uuid
from headwater.generators.lookup import Aggregate, lookup_problems, read_edges
from headwater.generators.ref import Ref
from headwater.generators.text import Format
from headwater.resolve.scenario import Scenario
from headwater.resolve.sinkcheck import check_config
from headwater.scenario.errors import problems as pyd_problems
from headwater.scenario.errors import shown
from headwater.scenario.model import EntityBase, ScenarioDocument
from headwater.scenario.yamlio import Document, Loc, load_yaml, load_yaml_file
from headwater.serve.config import Serve
from headwater.sinks.base import SinkConfig
from headwater.world.model import Entity

if TYPE_CHECKING:
    from headwater.sinks import Peer
    from headwater.world.schema import EntitySchema


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
        raise ScenarioError(
            [*doc.problems, doc.problem((), "a scenario is a mapping with at least 'entities'")]
        )
    checker = _Checker(doc)
    scenario = checker.run()
    if checker.problems or scenario is None:
        raise ScenarioError(checker.problems)
    return scenario


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


class _Checker:
    """Every stage runs on what the earlier ones could read, so one pass lists every problem:
    the YAML, the document, the serve section, each field generator, each sink, then the
    cross-checks, which need the resolved Scenario (built once the entities are sound)."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.problems: list[Problem] = list(doc.problems)
        self.reported = {p.path for p in doc.problems}  # paths the YAML stage already explained
        self.broken: set[tuple[str, str]] = set()  # (entity, field) that did not parse

    def add(self, loc: Loc, message: str) -> None:
        self.problems.append(self.doc.problem(loc, message))

    def extend(self, found: list[Problem]) -> None:
        """Add problems, except those under a path whose value the YAML stage rejected."""
        self.problems += [
            p
            for p in found
            if not any(p.path == r or p.path.startswith((f"{r}.", f"{r}[")) for r in self.reported)
        ]

    def run(self) -> Scenario | None:
        data = self.doc.data
        for section in ("entities", "sinks"):
            for name in _mapping(data.get(section)):
                if isinstance(name, str) and (why := path_name_problem(name)):
                    self.add((section, name), f"the name {name!r} {why}")
        try:
            document: ScenarioDocument | None = ScenarioDocument.model_validate(data)
        except ValidationError as exc:
            self.extend(pyd_problems(exc, self.doc, (), ScenarioDocument))
            document = None
        serve, serve_ok = self.serve_config(data.get("serve"))
        gens = {
            name: {
                f: g
                for f, spec in _mapping(_mapping(ent).get("fields")).items()
                if (g := self.parse_field(name, f, spec))
            }
            for name, ent in _mapping(data.get("entities")).items()
        }
        configs = {
            n: c
            for n, spec in _mapping(data.get("sinks")).items()
            if (c := self.sink_config(n, spec))
        }
        if document is None or not serve_ok:
            return None
        before = len(self.problems)
        for name in document.entities:
            self.check_entity(document, gens, name)
        self.check_parents(document)
        if len(self.problems) == before:
            self.check_reads(gens)
        scenario, schemas = None, None
        # types (and so sinks' checks) need every field and reference in place
        if not self.broken and len(self.problems) == before:
            scenario = _resolve(data, gens, configs, serve)
            schemas = self.check_types(scenario)
        peers = _peers(_mapping(data.get("sinks")), configs)
        for name, config in configs.items():
            self.check_sink(document, name, config, schemas, peers)
        if serve is not None:
            for sub, message in serve.check(document, schemas):
                self.add(("serve", *sub), message)
        return scenario

    def parse_field(self, entity: str, name: str, spec: Any) -> FieldGen | None:
        loc: Loc = ("entities", entity, "fields", name)
        try:
            return parse_field(spec)
        except ValidationError as exc:
            cls = GENERATORS.get(generator_name(spec))
            self.extend(pyd_problems(exc, self.doc, loc, cls))
        except (ValueError, HeadwaterError) as exc:
            self.extend([self.doc.problem(loc, str(exc))])
        self.broken.add((entity, name))
        return None

    def serve_config(self, spec: Any) -> tuple[Serve | None, bool]:
        """The validated serve section (None when absent), and whether it is sound."""
        if spec is None:
            return None, True
        try:
            return Serve.model_validate(spec), True
        except ValidationError as exc:
            self.extend(pyd_problems(exc, self.doc, ("serve",), Serve))
        except (ValueError, HeadwaterError) as exc:
            self.add(("serve",), str(exc))
        return None, False

    def check_entity(
        self, scenario: ScenarioDocument, parsed: dict[str, dict[str, FieldGen]], name: str
    ) -> None:
        """The entity's parsed fields against its own keys, updates, indexes and parent, and
        their references against the other entities (as declared in the document)."""
        ent = scenario.entities[name]
        base: Loc = ("entities", name)
        gens = parsed[name]
        fields = list(gens)
        broken = {f for e, f in self.broken if e == name}
        if not broken:  # else the key is not known for sure (the first field may be broken)
            self.check_key(base, ent, gens)
        for fname, gen in gens.items():
            floc = base + ("fields", fname)
            for dep in sorted(gen.depends()):
                if dep not in gens and dep not in broken:
                    self.add(floc, f"unknown field '{dep}'{suggest(dep, fields)}")
            for ref in _refs(gen):
                if ref.entity not in scenario.entities:
                    self.add(
                        floc + ("ref",),
                        f"unknown entity '{ref.entity}'{suggest(ref.entity, scenario.entities)}",
                    )
                elif ref.entity in self.broken_entities():
                    continue
                elif ref.field != scenario.entities[ref.entity].key_field:
                    key = scenario.entities[ref.entity].key_field
                    self.add(
                        floc + ("ref",),
                        f"'{ref.field}' is not the key of '{ref.entity}': reference '{ref.entity}.{key}'",
                    )
            if getattr(gen, "entity", None) not in self.broken_entities():
                parents = {
                    e: d.parent.entity if d.parent else None for e, d in scenario.entities.items()
                }
                for sub, message in lookup_problems(parents, parsed, name, gen):
                    self.add(floc + sub, message)
        cycle = _field_cycle({f: g.depends() & set(gens) for f, g in gens.items()})
        if cycle:
            self.add(base + ("fields", cycle[0]), f"cycle in derived fields: {' → '.join(cycle)}")
        for i, upd in enumerate(ent.updates):
            for j, f in enumerate(upd.fields):
                if f in broken:
                    continue
                if f not in gens:
                    self.add(
                        base + ("updates", i, "fields", j),
                        f"unknown field '{f}'{suggest(f, fields)}",
                    )
                elif f == ent.key_field:
                    self.add(base + ("updates", i, "fields", j), "the key cannot be updated")
                elif isinstance(gens[f], Aggregate):
                    self.add(
                        base + ("updates", i, "fields", j),
                        f"'{f}' follows its children and cannot be updated",
                    )
        for i, index in enumerate(ent.indexes):
            for j, f in enumerate(index):
                if f not in gens and f not in broken:
                    self.add(base + ("indexes", i, j), f"unknown field '{f}'{suggest(f, fields)}")
        if ent.parent is not None:
            p = ent.parent.entity
            if p not in scenario.entities:
                self.add(
                    base + ("parent", "entity"),
                    f"unknown entity '{p}'{suggest(p, scenario.entities)}",
                )
            elif not broken and not any(
                isinstance(g, Ref) and g.entity == p for g in gens.values()
            ):
                key = scenario.entities[p].key_field
                self.add(
                    base + ("parent",),
                    f"a child of '{p}' needs a field {{ref: {p}.{key}}} holding its parent's key",
                )
        elif ent.arrivals is None and ent.initial == 0:
            self.add(base, "the entity never gets rows: give initial, arrivals or parent")

    def check_key(self, base: Loc, ent: EntityBase, gens: dict[str, FieldGen]) -> None:
        if ent.key is not None and ent.key not in gens:
            self.add(base + ("key",), f"unknown field '{ent.key}'{suggest(ent.key, list(gens))}")
        elif not _unique(gens, ent.key_field):
            self.add(
                base + ("fields", ent.key_field),
                f"the key field '{ent.key_field}' must use seq or uuid (or a format of one) so keys are unique",
            )

    def broken_entities(self) -> set[str]:
        return {e for e, _ in self.broken}

    def check_parents(self, scenario: ScenarioDocument) -> None:
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

    def check_reads(self, parsed: dict[str, dict[str, FieldGen]]) -> None:
        """Lookups and aggregates must not read, through other entities, what they compute."""
        cycle = _field_cycle(read_edges(parsed))
        if cycle:
            entity, field = cycle[0].split(".")
            self.add(
                ("entities", entity, "fields", field),
                f"cycle across entities: {' → '.join(cycle)}",
            )

    def check_types(self, scenario: Scenario) -> dict[str, EntitySchema] | None:
        """Every field's type, dependencies first (so a long chain needs no deep recursion);
        the entities' schemas when all are sound."""
        from headwater.world.schema import FieldTypes, entity_schema

        env = FieldTypes(scenario, "")
        before = len(self.problems)
        for name, ent in scenario.entities.items():
            fenv = env.for_entity(name)
            for fname in field_order(ent.fields):
                try:
                    fenv.field_type(fname)
                except ValueError as exc:
                    self.add(("entities", name, "fields", fname), str(exc))
        if len(self.problems) > before:
            return None
        return {name: entity_schema(scenario, name, env) for name in scenario.entities}

    def sink_config(self, name: str, spec: Any) -> SinkConfig | None:
        """The sink's validated configuration, or None after adding its problems."""
        from headwater.sinks import SINKS

        loc: Loc = ("sinks", name)
        if not isinstance(spec, dict) or "kind" not in spec:
            self.add(loc, f"a sink needs 'kind', one of: {', '.join(SINKS.names())}")
            return None
        kind = spec["kind"]
        if not isinstance(kind, str):
            self.add(
                loc + ("kind",),
                f"expected a sink kind, one of: {', '.join(SINKS.names())}; got {shown(kind)}",
            )
            return None
        if kind not in SINKS:
            self.add(loc + ("kind",), f"unknown sink kind '{kind}'{suggest(kind, SINKS.names())}")
            return None
        try:
            cls = SINKS.get(kind)
        except HeadwaterError as exc:
            self.add(loc + ("kind",), str(exc))
            return None
        try:
            config = cls.Config.model_validate(spec)
        except ValidationError as exc:
            self.extend(pyd_problems(exc, self.doc, loc, cls.Config))
            return None
        except HeadwaterError as exc:  # a plug-in the configuration names (a format…)
            self.add(loc, str(exc))
            return None
        for sub, message in check_config(config, files=cls.capabilities.files):
            self.add(loc + sub, message)
        return config

    def check_sink(
        self,
        document: ScenarioDocument,
        name: str,
        config: SinkConfig,
        schemas: dict[str, EntitySchema] | None,
        peers: dict[str, Peer | None],
    ) -> None:
        """Cross-checks of a sink against the scenario (its faults need sound entities)."""
        from headwater.sinks import SINKS, CheckContext

        loc: Loc = ("sinks", name)
        cls = SINKS.get(config.kind)
        for i, e in enumerate(config.entities or []):
            if e not in document.entities:
                self.add(
                    loc + ("entities", i), f"unknown entity '{e}'{suggest(e, document.entities)}"
                )
        if schemas is None:  # a sink's own checks read the entities' types: they must be sound
            return
        for sub, message in cls.check(config, CheckContext(name, schemas, peers)):
            self.add(loc + sub, message)
        if config.faults is not None:
            from headwater.faults import check_faults

            wanted = config.entities
            mine = {e: s for e, s in schemas.items() if not wanted or e in wanted}
            for sub, message in check_faults(config.faults, mine, cls.capabilities.store, cls.kind):
                self.add(loc + ("faults", *sub), message)


def _peers(specs: dict[Any, Any], configs: dict[str, Any]) -> dict[str, Peer | None]:
    """Every sink of the scenario as other sinks' checks see it (None: invalid config)."""
    from headwater.sinks import SINKS, Peer

    return {
        name: Peer(c, SINKS.get(c.kind).capabilities) if (c := configs.get(name)) else None
        for name in specs
        if isinstance(name, str)
    }


def _resolve(
    data: dict[Any, Any],
    gens: dict[str, dict[str, FieldGen]],
    sinks: dict[str, SinkConfig],
    serve: Serve | None,
) -> Scenario:
    """The resolved Scenario, validated from the document's data with each plug-in section
    replaced by what its owner validated it into."""
    entities = {
        name: Entity.model_validate({**ent, "fields": gens[name]})
        for name, ent in data["entities"].items()
    }
    return Scenario.model_validate({**data, "entities": entities, "sinks": sinks, "serve": serve})


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
    """A dependency cycle as a path (a → b → a), or None. Iterative: chains may be long."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for root in graph:
        if root in state:
            continue
        path, todo = [root], [iter(sorted(graph.get(root, ())))]
        state[root] = 1
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                todo.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                todo.append(iter(sorted(graph.get(nxt, ()))))
    return None
