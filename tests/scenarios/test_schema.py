"""The scenario format: exact YAML round trips, errors that name the field, and a fuzzed loader that only
ever answers with a Scenario or a ScenarioError."""

import copy
import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cordillera.scenarios.schema import SCHEMA_VERSION, Scenario, ScenarioError, dump_scenario, load_scenario
from cordillera.world import sim

# Every section and every behaviour kind, on a map `sim.reset` can build.
FULL = {
    "version": 1,
    "name": "everything",
    "seed": 7,
    "map": {"builder": "intersection", "params": {"lanes_per_direction": 2, "protected_left": False, "green_s": 15.0}},
    "ego": {"lane": "south_in.1", "s": 25.0, "d": 0.2, "speed": 8.0, "goal_lane": "west_out.1"},
    "agents": [
        {"id": "lead", "type": "car", "lane": "south_in.1", "s": 45.0, "speed": 6.0,
         "behavior": {"kind": "idm", "desired_speed": 9.0, "time_headway_s": 1.2, "lane_changes": True}},
        {"id": "parked", "type": "parked_car", "lane": "east_in.0", "s": 20.0, "d": -0.5,
         "behavior": {"kind": "static"}},
        {"id": "walker", "type": "pedestrian", "position": [-14.0, 20.0], "heading": -1.5707963267948966,
         "behavior": {"kind": "walk", "desired_speed": 1.3, "path": [[-14.0, 20.0], [-14.0, -20.0]]}},
        {"id": "wrong_way", "type": "motorcycle", "position": [5.0, -60.0], "size": [2.2, 0.8, 1.4],
         "behavior": {"kind": "path", "desired_speed": 7.5, "path": [[5.0, -60.0], [5.0, -30.0], [4.0, -10.0]]}},
        {"id": "ghost", "type": "truck", "position": [-40.0, 5.25], "heading": 0.0, "active": False,
         "flags": ["hazard"], "behavior": {"kind": "replay", "replay_dt": 0.5,
                                           "trajectory": [[-40.0, 5.25, 0.0], [-38.0, 5.25, 0.0], [-36.0, 5.3, 0.01]]}},
    ],
    "events": [
        {"agent": "lead", "trigger": {"kind": "time", "time_s": 4.0}, "action": {"kind": "hard_brake", "decel": 5.5}},
        {"agent": "walker", "trigger": {"kind": "ego_distance", "distance_m": 30.0},
         "action": {"kind": "dart_out", "speed": 2.5}},
        {"agent": "ghost", "trigger": {"kind": "ego_time_to_arrival", "tta_s": 3.0}, "action": {"kind": "appear"}},
        {"agent": "lead", "trigger": {"kind": "time", "time_s": 9.0},
         "action": {"kind": "lane_change", "direction": "right", "duration_s": 2.5}},
    ],
    "traffic": {"vehicles": 5, "lanes": ["north_in.0", "north_in.1"], "min_gap_m": 14.0, "speed_range": [6.0, 9.5],
                "truck_fraction": 0.25, "lane_changes": False, "keep_clear_of_ego_m": 20.0},
    "appearance": {"time_of_day": "dusk", "weather": "rain"},
    "signals_dark": True,
    "success": {"kind": "reach_goal", "time_s": 30.0, "goal_distance_m": 4.0},
    "tags": {"family": "demo", "longtail": True, "category": "vru", "expected_decision": "yield to pedestrian"},
}


def _errors(doc) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(doc)
    return str(info.value)


def _with(**changes) -> dict:
    doc = copy.deepcopy(FULL)
    doc.update(changes)
    return doc


# --- round trip ------------------------------------------------------------------------------------------------


def test_full_scenario_round_trips_yaml_exactly():
    scenario = load_scenario(FULL)
    text = dump_scenario(scenario)
    again = load_scenario(text)
    assert again == scenario
    assert dump_scenario(again) == text
    assert again.model_dump(mode="json") == scenario.model_dump(mode="json")


def test_full_scenario_loads_from_yaml_text_and_resets():
    scenario = load_scenario(yaml.safe_dump(FULL))
    assert scenario == load_scenario(FULL)
    assert scenario.agents[3].behavior.path[2] == (4.0, -10.0)
    assert isinstance(scenario.map.params["lanes_per_direction"], int)
    assert isinstance(scenario.map.params["protected_left"], bool)
    state = sim.reset(scenario)
    assert state.agents.names[: len(FULL["agents"])] == tuple(a["id"] for a in FULL["agents"])


def test_defaults_are_filled_and_dumped():
    scenario = load_scenario("map: {builder: straight}\nego: {lane: fwd.0}\n")
    assert scenario.version == SCHEMA_VERSION
    text = dump_scenario(scenario)
    assert "speed: 10.0" in text and "time_of_day: day" in text
    assert load_scenario(text) == scenario


# --- errors name the field -------------------------------------------------------------------------------------


def test_negative_agent_speed_names_the_agent_and_field():
    doc = copy.deepcopy(FULL)
    doc["agents"][1]["speed"] = -1.0
    msg = _errors(doc)
    assert msg.startswith("agents[1].speed:"), msg
    assert "greater than or equal to 0" in msg and "-1.0" in msg


def test_event_on_unknown_agent():
    doc = copy.deepcopy(FULL)
    doc["events"][0]["agent"] = "x"
    assert _errors(doc) == "events[0].agent: unknown agent id 'x'"


def test_duplicate_agent_id():
    doc = copy.deepcopy(FULL)
    doc["agents"][2]["id"] = "lead"
    assert _errors(doc) == "agents[2].id: duplicate id 'lead'"


@pytest.mark.parametrize(("kind", "field"), [("time", "time_s"), ("ego_distance", "distance_m"),
                                             ("ego_time_to_arrival", "tta_s")])
def test_trigger_missing_its_value(kind, field):
    doc = copy.deepcopy(FULL)
    doc["events"][1]["trigger"] = {"kind": kind}
    assert _errors(doc) == f"events[1].trigger.{field}: required when kind is {kind!r}"


def test_action_and_behaviour_requirements_name_their_field():
    doc = copy.deepcopy(FULL)
    doc["events"][3]["action"] = {"kind": "cut_in"}
    assert _errors(doc).startswith("events[3].action.direction: action 'cut_in' needs direction")
    doc = copy.deepcopy(FULL)
    doc["agents"][2]["behavior"]["path"] = [[0.0, 0.0]]
    assert _errors(doc).startswith("agents[2].behavior.path: kind 'walk' needs a path of at least 2 points")


@pytest.mark.parametrize(
    ("mutate", "prefix"),
    [
        (lambda d: d.update(seed="seven"), "seed: Input should be a valid integer"),
        (lambda d: d["ego"].update(speed="fast"), "ego.speed: Input should be a valid number"),
        (lambda d: d["ego"].update(lane=2.5), "ego.lane: must be a lane name (text) or a lane index"),
        (lambda d: d["ego"].update(lane=True), "ego.lane: must be a lane name"),
        (lambda d: d["agents"][3].update(size=[1.0, 2.0]), "agents[3].size[2]: Field required"),
        (lambda d: d["agents"][0].update(type="spaceship"), "agents[0].type: Input should be"),
        (lambda d: d.update(agents={"lead": {}}), "agents: Input should be a valid tuple"),
        (lambda d: d["map"]["params"].update(lane_width=[3.5]), "map.params.lane_width: must be a number, a boolean or text"),
        (lambda d: d["map"]["params"].update(lane_width=math.nan), "map.params.lane_width: must be finite"),
        (lambda d: d["map"]["params"].update({3: 1}), "map.params: keys must be text, got 3"),
        (lambda d: d["ego"].update(speed=math.inf), "ego.speed: Input should be a finite number"),
        (lambda d: d.update(seed=10**5000), "seed: Input should be less than or equal to"),
        (lambda d: d["traffic"].update(speed_range=[9.0, 1.0]), "traffic.speed_range: must be (low, high)"),
        (lambda d: d["agents"][1].update(position=[0.0, 0.0]), "agents[1]: give exactly one of lane or position"),
        (lambda d: d["events"][0].pop("trigger"), "events[0].trigger: Field required"),
        (lambda d: d.pop("map"), "map: Field required"),
    ],
)
def test_wrong_values_name_the_field(mutate, prefix):
    doc = copy.deepcopy(FULL)
    mutate(doc)
    msg = _errors(doc)
    assert msg.startswith(prefix), msg
    assert "\n" not in msg


def test_unknown_keys_are_rejected_with_the_allowed_ones():
    doc = copy.deepcopy(FULL)
    doc["ego"]["sped"] = 3.0
    msg = _errors(doc)
    assert msg.startswith("ego.sped: unknown field (expected one of: lane, s, d, speed"), msg
    doc = copy.deepcopy(FULL)
    doc["events"][2]["action"]["colour"] = "red"
    assert _errors(doc).startswith("events[2].action.colour: unknown field")
    assert _errors(_with(weather="rain")).startswith("weather: unknown field")


def test_odd_keys_are_quoted_in_the_path():
    doc = copy.deepcopy(FULL)
    doc["map"]["params"]["lane width"] = None
    doc["ego"]["[key]"] = 1  # pydantic's own marker for dict keys, used as a real key
    msg = _errors(doc)
    assert "map.params['lane width']: must be a number, a boolean or text (got None)" in msg
    assert "ego['[key]']: unknown field" in msg
    assert _errors({"\n": 1, **FULL}) .startswith("['\\n']: unknown field")


def test_several_errors_are_reported_together():
    doc = copy.deepcopy(FULL)
    doc["ego"]["speed"] = -2.0
    doc["agents"][4]["behavior"]["replay_dt"] = 0.0
    msg = _errors(doc)
    assert "ego.speed:" in msg and "agents[4].behavior.replay_dt:" in msg


@pytest.mark.parametrize("version", [2, 0, "1", True, 1.5, None, [1]])
def test_unsupported_version(version):
    msg = _errors(_with(version=version))
    assert msg.startswith("version: unsupported scenario version"), msg


def test_malformed_yaml_is_one_line_with_its_position():
    msg = _errors("map: {builder: straight\nego: [\n")
    assert msg.startswith("malformed YAML at line"), msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    "text",
    [
        "!!python/object/apply:os.system ['true']",  # safe_load refuses code
        "map: {a: 1, a: [}",
        "a: 2021-13-01",  # a timestamp the YAML constructor cannot build
        "a: " + "9" * 5000,  # beyond Python's int-from-text limit
        "\t- x",
        "a: !!int ''",  # PyYAML raises IndexError here
        "a: !!timestamp x",  # and AttributeError here
    ],
)
def test_unreadable_yaml_is_a_scenario_error(text):
    assert _errors(text).startswith("malformed YAML")


def test_deeply_nested_yaml_is_a_scenario_error():
    # deeper than PyYAML's recursive composer gets within Python's default recursion limit
    with pytest.raises(ScenarioError, match=r"^(malformed YAML: nested too deeply|\(document\): a scenario must be)"):
        load_scenario("[" * 600 + "]" * 600)


@pytest.mark.parametrize(("text", "kind"), [("", "NoneType"), ("- 1\n- 2\n", "list"), ("3", "int"),
                                            ("just text", "str"), ("!!binary aGVsbG8=", "bytes")])
def test_non_mapping_document(text, kind):
    assert _errors(text) == f"(document): a scenario must be a mapping, got {kind}"


def test_non_mapping_objects_passed_directly():
    assert _errors([FULL]) == "(document): a scenario must be a mapping, got list"
    assert _errors({1: 2, **FULL}) == "(document): keys must be text, got 1"


# --- fuzzing ---------------------------------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(10**30), 10**30), st.just(2**53 + 1), st.just(-(10**4000)),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12), st.binary(max_size=4),
    st.sampled_from(["fwd.0", "south_in.1", "idm", "walk", "time", "left", "car", "", "x"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.one_of(st.text(max_size=8), st.integers(), st.none(), st.just("[key]")), inner, max_size=4),
    max_leaves=12,
)

_TOKENS = [
    "map", "ego", "agents", "events", "version", "lane", "speed", "builder", "params", "straight", "behavior", "kind",
    ":", ": ", "- ", "[", "]", "{", "}", ",", "\n", "  ", "\t", "&a ", "*a", "<<: ", "? ", "!!int ", "!!float ",
    "!!str ", "!!binary ", "!!set ", "!!omap ", "!!timestamp ", "!!python/tuple ", "'", '"', "#", "|", ">", "...",
    "---", "1", "-1", "0x1F", "1e400", ".nan", ".inf", "~", "null", "yes", "2021-13-01", "2001-12-14t21:59:43.1-05:00",
    "9" * 4400, "\\u0000", "\x85", "\ufeff", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n",
]


def _check(source) -> None:
    """The loader's contract: a Scenario that round-trips, or a ScenarioError; nothing else."""
    try:
        scenario = load_scenario(source)
    except ScenarioError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(scenario, Scenario)
    text = dump_scenario(scenario)
    assert load_scenario(text) == scenario
    assert dump_scenario(load_scenario(text)) == text


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=200))
def test_fuzz_random_text(text):
    _check(text)


@FUZZ
@given(st.lists(st.sampled_from(_TOKENS), max_size=40).map("".join))
def test_fuzz_yaml_like_text(text):
    _check(text)


@FUZZ
@given(_values)
def test_fuzz_random_documents(value):
    _check(value)
    try:
        text = yaml.safe_dump(value)
    except (yaml.YAMLError, ValueError):  # PyYAML cannot write every Python value (e.g. ints > 4300 digits)
        return
    _check(text)


def _containers(node, out):
    if isinstance(node, dict):
        out.append(node)
        for v in node.values():
            _containers(v, out)
    elif isinstance(node, list):
        out.append(node)
        for v in node:
            _containers(v, out)
    return out


@st.composite
def _mutated(draw):
    doc = copy.deepcopy(FULL)
    for _ in range(draw(st.integers(1, 4))):
        places = _containers(doc, [])
        node = draw(st.sampled_from(places))
        op = draw(st.sampled_from(["drop", "replace", "insert"]))
        if isinstance(node, dict):
            if op == "insert" or not node:
                node[draw(st.text(max_size=6) | st.sampled_from(["speed", "kind", "lane", "id", "[key]"]))] = draw(_values)
            else:
                key = draw(st.sampled_from(sorted(node, key=str)))
                if op == "drop":
                    del node[key]
                else:
                    node[key] = draw(_values)
        elif node:
            i = draw(st.integers(0, len(node) - 1))
            if op == "drop":
                del node[i]
            elif op == "replace":
                node[i] = draw(_values)
            else:
                node.insert(i, draw(_values))
    return doc


@settings(FUZZ, max_examples=100)
@given(_mutated())
def test_fuzz_mutated_scenarios(doc):
    _check(doc)  # as a dict: the YAML parser is fuzzed above, and parsing the big document is slow
