//! Reports and the word list at work: members file reports, moderators dismiss them (or close
//! them by acting), and messages matching the word list are flagged to staff.

use std::sync::Arc;

use crate::engine::event::{Audience, EventKind};
use crate::engine::member::MemberId;
use crate::engine::moderation::{
    self, Report, ReportStatus, ReportTarget, MAX_OPEN_REPORTS_PER_MEMBER, MAX_REPORT_REASON_CHARS,
};
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::engine::Engine;
use crate::time::Millis;

impl Engine {
    /// Files a report for staff. Checks everything before changing anything, so a refusal
    /// leaves the state as it was.
    pub(in crate::engine) fn report(
        &mut self,
        at: Millis,
        from: &MemberId,
        message: Option<u64>,
        member: Option<&MemberId>,
        reason: &str,
    ) -> Result<(), Rejection> {
        let target = match (message, member) {
            (Some(m), None) => ReportTarget::Message(m),
            (None, Some(m)) => ReportTarget::Member(m.clone()),
            _ => return reject(RejectCode::Invalid, "report either a message or a member"),
        };
        let reason = moderation::clean_text(reason);
        let reason = reason.trim();
        if reason.is_empty() {
            return reject(RejectCode::Invalid, "say briefly what is wrong");
        }
        if reason.chars().count() > MAX_REPORT_REASON_CHARS {
            return reject(
                RejectCode::TooLong,
                format!("a reason is limited to {MAX_REPORT_REASON_CHARS} characters"),
            );
        }
        match &target {
            ReportTarget::Message(m) => {
                if *m == 0 || *m >= self.core.next_item {
                    return reject(RejectCode::UnknownItem, format!("there is no message {m}"));
                }
                if self.core.hidden.contains(m) {
                    return reject(
                        RejectCode::NotAllowed,
                        "a moderator already hid that message",
                    );
                }
            }
            ReportTarget::Member(m) => {
                self.target(m)?;
                if m == from {
                    return reject(RejectCode::Invalid, "you cannot report yourself");
                }
                if self.core.roster.is_removed(m) {
                    return reject(
                        RejectCode::NotAllowed,
                        "a moderator already removed that member",
                    );
                }
            }
        }
        let mine = self.core.reports.iter().filter(|r| &r.by == from);
        if mine.clone().any(|r| r.target().as_ref() == Some(&target)) {
            return reject(
                RejectCode::Duplicate,
                "you already reported that; a moderator will look at it",
            );
        }
        if mine.count() >= MAX_OPEN_REPORTS_PER_MEMBER {
            return reject(
                RejectCode::TooManyReports,
                format!(
                    "you have {MAX_OPEN_REPORTS_PER_MEMBER} open reports; \
                     wait until a moderator handles one"
                ),
            );
        }
        let id = self.core.next_report;
        self.core.next_report += 1;
        let (message, member) = match target {
            ReportTarget::Message(m) => (Some(m), None),
            ReportTarget::Member(m) => (None, Some(m)),
        };
        let report = Report {
            id,
            by: from.clone(),
            message,
            member: member.clone(),
            reason: reason.to_string(),
            at,
            status: ReportStatus::Open,
        };
        self.core.reports.push(report);
        self.core.emit_to(
            at,
            Audience::Staff,
            EventKind::ReportFiled {
                report: id,
                by: from.clone(),
                message,
                member,
                reason: reason.to_string(),
            },
        );
        Ok(())
    }

    pub(in crate::engine) fn dismiss_report(
        &mut self,
        at: Millis,
        by: &MemberId,
        report: u64,
    ) -> Result<(), Rejection> {
        let Some(idx) = self.core.reports.iter().position(|r| r.id == report) else {
            return reject(
                RejectCode::UnknownItem,
                format!("there is no open report {report}"),
            );
        };
        let r = self.core.reports.remove(idx);
        self.core.emit_to(
            at,
            Audience::Staff,
            EventKind::ReportClosed {
                report: r.id,
                by: by.clone(),
                status: ReportStatus::Dismissed,
            },
        );
        Ok(())
    }

    /// Closes every open report about `target`: the moderator acted on it.
    pub(in crate::engine) fn close_reports(
        &mut self,
        at: Millis,
        by: &MemberId,
        target: &ReportTarget,
        status: ReportStatus,
    ) {
        let (closed, open): (Vec<Report>, Vec<Report>) = std::mem::take(&mut self.core.reports)
            .into_iter()
            .partition(|r| r.target().as_ref() == Some(target));
        self.core.reports = open;
        for r in closed {
            self.core.emit_to(
                at,
                Audience::Staff,
                EventKind::ReportClosed {
                    report: r.id,
                    by: by.clone(),
                    status,
                },
            );
        }
    }

    /// Puts a `message_flagged` (staff only) after each message of this input that matches the
    /// word list. Messages only their author sees (private notes) are left alone.
    pub(in crate::engine) fn flag_messages(&mut self, at: Millis, mark: usize) {
        if self.core.config.word_list.is_empty() || mark >= self.core.out.len() {
            return;
        }
        let list = Arc::clone(&self.core.config.word_list);
        let tail = self.core.out.split_off(mark);
        for ev in tail {
            let said = match (&ev.kind, &ev.audience) {
                (_, Audience::Member(_)) => None,
                (
                    EventKind::Said {
                        message,
                        member,
                        text,
                    }
                    | EventKind::QuestionAsked {
                        question: message,
                        member,
                        text,
                    },
                    _,
                ) => Some((*message, Some(member.clone()), text)),
                (
                    EventKind::Noted {
                        message,
                        member,
                        text,
                    },
                    _,
                ) => Some((*message, member.clone(), text)),
                _ => None,
            };
            let flag = said.and_then(|(message, member, text)| {
                let words = list.matches(text);
                (!words.is_empty()).then_some(EventKind::MessageFlagged {
                    message,
                    member,
                    words,
                })
            });
            self.core.out.push(ev);
            if let Some(kind) = flag {
                self.core.emit_to(at, Audience::Staff, kind);
            }
        }
    }
}
