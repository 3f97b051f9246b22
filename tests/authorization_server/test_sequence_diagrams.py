"""The admin page's sequence diagram of a journey (issue 4), laid out without a server."""

from datetime import UTC, datetime, timedelta

from authorization_server.admin.sequence_diagrams import layout
from authorization_server.admin.timelines import Timeline, TimelineStep
from authorization_server.journeys.entities import JourneyStatus, Step

START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def timeline_of(*steps: Step) -> Timeline:
    """A journey that recorded ``steps``, 25 ms apart."""
    return Timeline(
        journey_id="jrn_x",
        status=JourneyStatus.ACTIVE,
        issuer="http://localhost:9000/mcp/demo",
        started_at=START,
        mcp_flow_id="mfl_x",
        client_id="c",
        client_name="Client",
        mcp_server_id="demo",
        mcp_server_name="Demo",
        mcp_server_version="latest",
        user_id=None,
        connections=(),
        downstream=(),
        steps=tuple(
            TimelineStep(step, START + timedelta(milliseconds=25 * n), timedelta(milliseconds=25), None)
            for n, step in enumerate(steps, start=1)
        ),
        outcome="tokens issued",
    )


def test_a_downstream_flow_is_an_arrow_from_the_authorization_server_to_the_provider():
    """Issue 4: the diagram has a downstream provider lifeline, reached by the journey's downstream flows."""
    diagram = layout(timeline_of(Step.CODE_REDEEMED, Step.DOWNSTREAM_FLOW_STARTED))

    [redeemed, downstream] = diagram.arrows
    assert [(line.name, line.x) for line in diagram.lifelines] == [
        ("Client", 100),
        ("User", 290),
        ("Authorization server", 480),
        ("MCP server", 670),
        ("Downstream provider", 860),
    ]
    assert (redeemed.x1, redeemed.x2, redeemed.y, redeemed.label) == (100, 480, 94, "code + verifier for tokens")
    assert (downstream.x1, downstream.x2, downstream.y, downstream.label) == (480, 860, 138, "downstream authorization")
    assert (downstream.number, downstream.took_ms) == (2, 25.0)
    assert (diagram.width, diagram.height) == (960, 182)


def test_every_step_a_journey_records_has_an_arrow():
    """Issue 4: whatever a journey recorded, the diagram can draw it."""
    diagram = layout(timeline_of(*Step))

    assert [arrow.step for arrow in diagram.arrows] == list(Step)
