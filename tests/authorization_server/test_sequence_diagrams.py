"""The admin page's sequence diagram of a journey (issue 4), laid out without a server."""

from datetime import UTC, datetime, timedelta

from mcp_authz.authorization_server.admin.sequence_diagrams import layout
from mcp_authz.authorization_server.admin.timelines import Timeline, TimelineStep
from mcp_authz.authorization_server.journeys.entities import JourneyStatus, Step

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


def test_issue_17_the_mcp_servers_first_check_of_a_token_is_drawn_from_its_lifeline():
    """Issue 17: the diagram draws the MCP server's side: its introspection (RFC 7662) goes from its lane to the AS."""
    diagram = layout(timeline_of(Step.CODE_REDEEMED, Step.TOKEN_INTROSPECTED))

    [_, checked] = diagram.arrows
    lanes = {line.name: line.x for line in diagram.lifelines}
    assert (checked.x1, checked.x2) == (lanes["MCP server"], lanes["Authorization server"])
    assert checked.label == "checks the token (RFC 7662)"


def test_issue_17_failed_and_locked_sign_ins_are_drawn_between_the_user_and_the_authorization_server():
    """Issue 17: a failed sign-in goes from the user to the AS; the lock comes back from the AS to the user."""
    diagram = layout(timeline_of(Step.AUTHORIZATION_REQUESTED, Step.SIGN_IN_FAILED, Step.SIGN_IN_LOCKED))

    [_, failed, locked] = diagram.arrows
    lanes = {line.name: line.x for line in diagram.lifelines}
    assert (failed.x1, failed.x2, failed.label) == (lanes["User"], lanes["Authorization server"], "sign-in failed")
    assert (locked.x1, locked.x2, locked.label) == (lanes["Authorization server"], lanes["User"], "username locked")


def test_an_upstream_sign_in_is_drawn_on_an_identity_provider_lifeline():
    """Issue 16: a sign-in through an identity provider has its own lifeline, right of the downstream provider;
    a journey without one keeps the five lifelines (the test above)."""
    diagram = layout(
        timeline_of(Step.UPSTREAM_SIGN_IN_STARTED, Step.UPSTREAM_SIGN_IN_FAILED, Step.UPSTREAM_SIGN_IN_COMPLETED)
    )

    assert [line.name for line in diagram.lifelines][-1] == "Identity provider"
    assert [(arrow.x1, arrow.x2, arrow.label) for arrow in diagram.arrows] == [
        (480, 1050, "sign-in (OpenID Connect)"),
        (1050, 480, "sign-in refused"),
        (1050, 480, "code, then ID token"),
    ]
    assert diagram.width == 1150
