//! Reports from members and the word list: what moderators need to notice trouble.
//!
//! Moderators cannot read everything in a large hall, so members can point at a message or a
//! person (`report`), and a configured word list points at messages for them (`message_flagged`).
//! Both only *inform* staff: nothing is blocked or hidden automatically, because a wrong
//! automatic decision in a divisive conversation silences the wrong person. The state kept here
//! is bounded: only open reports are held (closed ones live on in the event log), and each
//! member may have at most [`MAX_OPEN_REPORTS_PER_MEMBER`] open at once.

mod actions;
mod reports;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::member::MemberId;
use crate::time::Millis;

/// Longest report reason (characters, after trimming). Enough for a sentence or two; a report
/// is a pointer, not an essay.
pub const MAX_REPORT_REASON_CHARS: usize = 500;
/// Open reports one member may have at once. Stops one person from burying moderators; a
/// report that is dismissed or acted on frees a slot.
pub const MAX_OPEN_REPORTS_PER_MEMBER: usize = 5;
/// Most open reports listed in a staff snapshot (oldest first); the events carry all of them.
pub const VIEW_REPORTS: usize = 200;

/// What a report points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportTarget {
    /// A message, note or question, by its item id (the id `hide` takes).
    Message(u64),
    Member(MemberId),
}

/// Where a report stands. Only open reports are kept in engine state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    Open,
    /// A moderator looked and decided not to act.
    Dismissed,
    /// Closed because a moderator hid the reported message.
    Hidden,
    /// Closed because a moderator muted the reported member.
    Muted,
    /// Closed because a moderator removed the reported member.
    Removed,
}

/// One member's report, as staff see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub id: u64,
    pub by: MemberId,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub member: Option<MemberId>,
    pub reason: String,
    pub at: Millis,
    pub status: ReportStatus,
}

impl Report {
    pub fn target(&self) -> Option<ReportTarget> {
        match (&self.message, &self.member) {
            (Some(m), None) => Some(ReportTarget::Message(*m)),
            (None, Some(m)) => Some(ReportTarget::Member(m.clone())),
            _ => None,
        }
    }
}

/// Lower-case words and phrases that flag a message for moderator review.
///
/// Matching is on whole words, case-insensitively: the text and each entry are split into
/// words (runs of letters and digits, apostrophes inside a word kept), and an entry matches
/// where its words appear consecutively in the text. So `"ass"` does not flag "class", and
/// `"go home"` flags "Go... home!" but not "go to your home". This is a blunt tool on purpose
/// (see `docs/moderation.md`): it only flags, and it is easy to evade.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub struct WordList {
    /// The normalized entries (words joined by single spaces), in list order, no duplicates.
    entries: Vec<String>,
    /// Entry indexes by their first word, so a message is checked word by word, not entry
    /// by entry.
    by_first: BTreeMap<String, Vec<usize>>,
}

impl WordList {
    /// Builds a list from entries; blank entries and entries with no letters or digits are
    /// skipped, so a stray line cannot flag everything.
    pub fn new<I, S>(entries: I) -> WordList
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = WordList::default();
        for e in entries {
            let words = words(e.as_ref());
            if words.is_empty() {
                continue;
            }
            let entry = words.join(" ");
            if list.entries.contains(&entry) {
                continue;
            }
            list.by_first
                .entry(words[0].clone())
                .or_default()
                .push(list.entries.len());
            list.entries.push(entry);
        }
        list
    }

    /// Parses a word-list file: one entry per line; lines starting with `#` are comments.
    pub fn parse(text: &str) -> WordList {
        WordList::new(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#')),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// The entries found in `text`, in list order.
    pub fn matches(&self, text: &str) -> Vec<String> {
        if self.is_empty() {
            return Vec::new();
        }
        let words = words(text);
        let mut hit = vec![false; self.entries.len()];
        for (i, w) in words.iter().enumerate() {
            let Some(candidates) = self.by_first.get(w) else {
                continue;
            };
            for &c in candidates {
                if hit[c] {
                    continue;
                }
                let entry = self.entries[c].split(' ');
                let n = entry.clone().count();
                if words.len() - i >= n && entry.zip(&words[i..]).all(|(a, b)| a == b) {
                    hit[c] = true;
                }
            }
        }
        self.entries
            .iter()
            .zip(hit)
            .filter(|(_, h)| *h)
            .map(|(e, _)| e.clone())
            .collect()
    }
}

impl From<Vec<String>> for WordList {
    fn from(entries: Vec<String>) -> WordList {
        WordList::new(entries)
    }
}

impl From<WordList> for Vec<String> {
    fn from(list: WordList) -> Vec<String> {
        list.entries
    }
}

/// Control characters and the bidirectional embedding, override and isolate controls, which
/// make text read differently from what is stored (a name or message that displays reversed).
pub fn is_invisible_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
        )
}

/// What people type, as stored: invisible controls dropped (line breaks and tabs kept), so the
/// log, the transcript and every client see the same text.
pub fn clean_text(text: &str) -> String {
    text.chars()
        .filter(|&c| c == '\n' || c == '\t' || !is_invisible_control(c))
        .collect()
}

/// Splits text into lower-case words: runs of letters and digits, with apostrophes kept
/// inside a word ("don't") and dropped at its edges ("'quoted'").
fn words(text: &str) -> Vec<String> {
    let is_apostrophe = |c: char| c == '\'' || c == '\u{2019}';
    text.split(|c: char| !(c.is_alphanumeric() || is_apostrophe(c)))
        .map(|w| w.trim_matches(is_apostrophe))
        .filter(|w| !w.is_empty())
        .map(|w| w.replace('\u{2019}', "'").to_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_whole_words_case_insensitively() {
        let list = WordList::new(["ass", "Go Home", "don't"]);
        assert_eq!(list.matches("What a CLASS act"), Vec::<String>::new());
        assert_eq!(list.matches("You ASS!"), ["ass"]);
        assert_eq!(list.matches("just go... HOME, now"), ["go home"]);
        assert_eq!(list.matches("go to your home"), Vec::<String>::new());
        assert_eq!(list.matches("I don\u{2019}t agree"), ["don't"]);
        assert_eq!(list.matches("'ass' go home ass"), ["ass", "go home"]);
    }

    #[test]
    fn blank_and_comment_lines_are_skipped() {
        let list = WordList::parse("# slurs\n\n  Foo  \n---\nfoo\nbar baz\n");
        assert_eq!(list.entries(), ["foo", "bar baz"]);
        assert!(WordList::parse("# nothing\n").is_empty());
        assert!(list.matches("").is_empty());
        assert!(list.matches("bar").is_empty());
    }

    #[test]
    fn round_trips_as_a_list_of_entries() {
        let list = WordList::new(["a b", "c"]);
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(json, r#"["a b","c"]"#);
        let back: WordList = serde_json::from_str(&json).unwrap();
        assert_eq!(back, list);
    }
}
