//! The role matrix over real sockets: every command from every role is either allowed (any
//! answer but `forbidden`) or refused with `forbidden`, exactly as `Role::may` says.

mod common;

use common::*;
use commonground::engine::command::Command;
use commonground::engine::member::Role;
use serde_json::{json, Value};

/// Every command, with a target filled in later (`"@p"` is the participant's id). `end`
/// comes last because it ends the session; `remove` just before it. `report` is open to
/// every role, observers included.
fn commands() -> Vec<Value> {
    vec![
        json!({"type": "raise_hand"}),
        json!({"type": "lower_hand"}),
        json!({"type": "speak", "text": "hello"}),
        json!({"type": "pass"}),
        json!({"type": "yield_floor"}),
        json!({"type": "confirm_reflection"}),
        json!({"type": "request_clarification"}),
        json!({"type": "accept_floor"}),
        json!({"type": "decline_floor"}),
        json!({"type": "note", "text": "a note"}),
        json!({"type": "ask", "text": "a question?"}),
        json!({"type": "upvote", "question": 1}),
        json!({"type": "vote", "choice": "yes"}),
        json!({"type": "start"}),
        json!({"type": "pause"}),
        json!({"type": "resume"}),
        json!({"type": "extend", "seconds": 30}),
        json!({"type": "broadcast", "text": "attention"}),
        json!({"type": "grant_floor", "member": "@p"}),
        json!({"type": "revoke_floor"}),
        json!({"type": "mute", "member": "@p"}),
        json!({"type": "unmute", "member": "@p"}),
        json!({"type": "move_in_queue", "member": "@p", "position": 0}),
        json!({"type": "hide", "message": 1}),
        json!({"type": "approve", "question": 1}),
        json!({"type": "report", "member": "@p", "reason": "talks over people"}),
        json!({"type": "dismiss_report", "report": 1}),
        json!({"type": "remove", "member": "@p"}),
    ]
}

/// Commands that end the session (the test protocol has one phase); each gets a fresh room.
fn ending_commands() -> Vec<Value> {
    vec![json!({"type": "next_phase"}), json!({"type": "end"})]
}

fn expected_allowed(role: Role, cmd: &Value) -> bool {
    let fields = cmd.as_object().unwrap().clone();
    let command = Command::from_fields(fields).expect("the test's commands parse");
    // Staff who may hold the floor get the floor's own refusal (`not_your_turn`,
    // `no_invitation`) for floor-holder commands, like a participant, not `forbidden`.
    role.may(command.capability()) || (command.is_floor_holder_command() && role.is_staff())
}

#[tokio::test]
async fn every_command_from_every_role() {
    let server = start_server(test_config()).await;
    for role in Role::ALL {
        let mut batches = vec![commands()];
        batches.extend(ending_commands().into_iter().map(|c| vec![c]));
        for batch in batches {
            check_batch(&server, role, batch).await;
        }
    }
    server.stop().await.unwrap();
}

async fn check_batch(server: &TestServer, role: Role, batch: Vec<Value>) {
    {
        let event = server.create_event("test-open").await;
        let fac = server.invite(&event, "facilitator", "Fran", None).await;
        let p = server
            .invite(&event, "participant", "Pat", Some("Dayton, OH"))
            .await;
        let community = (role == Role::Participant).then_some("Boulder, CO");
        let x = server.invite(&event, role.as_str(), "Xen", community).await;
        let mut fac = server.join(&fac).await;
        let p = server.join(&p).await;
        let mut x = server.join(&x).await;
        fac.ok(json!({"type": "start"})).await;
        for mut cmd in batch {
            for v in cmd.as_object_mut().unwrap().values_mut() {
                if v == "@p" {
                    *v = json!(p.member);
                }
            }
            let allowed = expected_allowed(role, &cmd);
            let reply = x.cmd(cmd.clone()).await;
            let code = reply["code"].as_str().unwrap_or("");
            if allowed {
                assert_ne!(code, "forbidden", "{role} may send {cmd}: {reply}");
            } else {
                assert_eq!(reply["type"], "error", "{role} may not send {cmd}: {reply}");
                assert_eq!(code, "forbidden", "{role} {cmd}: {reply}");
            }
        }
    }
}
