//! When a shell's prompt is shown again after log lines: only once the
//! output has paused for [`PROMPT_QUIET`], never after every line. With
//! `--trace` a busy node prints lines in bursts; a prompt under each line
//! would fill half the terminal with prompts.
//!
//! This is the rule alone, with the time passed in, so that it is tested
//! with a made-up clock; `terminal.rs` applies it to the real terminal.

use std::time::{Duration, Instant};

/// How long the output must pause before the prompt is shown again: long
/// enough to cover a burst of trace lines, short enough to feel immediate.
pub const PROMPT_QUIET: Duration = Duration::from_millis(300);

/// The prompt a shell waits at, and whether it is on the screen now.
#[derive(Debug)]
pub struct PromptLine {
    /// The prompt the shell waits at, if it waits.
    prompt: Option<String>,
    /// The prompt is the last thing on the screen.
    on_screen: bool,
    /// When the last line was printed under it.
    last_output: Option<Instant>,
}

impl PromptLine {
    /// No shell waits.
    pub const fn new() -> PromptLine {
        PromptLine {
            prompt: None,
            on_screen: false,
            last_output: None,
        }
    }

    /// The shell has shown `prompt` itself (`Some`) and waits, or a line
    /// came and it waits no more (`None`).
    pub fn waiting_at(&mut self, prompt: Option<&str>) {
        self.on_screen = prompt.is_some();
        self.prompt = prompt.map(str::to_string);
    }

    /// Whether a shell waits at a prompt.
    pub fn waiting(&self) -> bool {
        self.prompt.is_some()
    }

    /// A line is printed at `now`. Answers whether the prompt was on the
    /// screen, so that the line must first end the prompt's line.
    pub fn line_printed(&mut self, now: Instant) -> bool {
        self.last_output = Some(now);
        std::mem::replace(&mut self.on_screen, false)
    }

    /// When the prompt is due on the screen again, if it waits off it.
    pub fn due(&self) -> Option<Instant> {
        match (&self.prompt, self.on_screen, self.last_output) {
            (Some(_), false, Some(last)) => Some(last + PROMPT_QUIET),
            _ => None,
        }
    }

    /// The prompt to show again at `now`, if it is due; it then counts as
    /// on the screen.
    pub fn show_again(&mut self, now: Instant) -> Option<String> {
        if self.due().is_some_and(|due| due <= now) {
            self.on_screen = true;
            return self.prompt.clone();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{PromptLine, PROMPT_QUIET};
    use std::time::{Duration, Instant};

    const PROMPT: &str = "tracker> ";

    #[test]
    fn a_burst_of_lines_gets_one_prompt_after_it() {
        let start = Instant::now();
        let mut prompt = PromptLine::new();
        prompt.waiting_at(Some(PROMPT));
        assert!(
            prompt.line_printed(start),
            "the first line ends the prompt's line"
        );
        let mut shown = 0;
        // Ten lines 50 ms apart: the output never pauses for long enough.
        for step in 1..10 {
            let now = start + Duration::from_millis(50 * step);
            shown += usize::from(prompt.show_again(now).is_some());
            assert!(
                !prompt.line_printed(now),
                "no prompt to end: it is not shown"
            );
        }
        assert_eq!(shown, 0, "no prompt in the middle of a burst");
        let last = start + Duration::from_millis(450);
        assert_eq!(prompt.due(), Some(last + PROMPT_QUIET));
        assert_eq!(prompt.show_again(last + PROMPT_QUIET / 2), None);
        assert_eq!(
            prompt.show_again(last + PROMPT_QUIET).as_deref(),
            Some(PROMPT)
        );
        assert_eq!(prompt.show_again(last + PROMPT_QUIET * 9), None, "once");
        assert!(prompt.line_printed(last + PROMPT_QUIET * 10));
    }

    #[test]
    fn no_prompt_comes_back_while_a_command_runs() {
        let now = Instant::now();
        let mut prompt = PromptLine::new();
        prompt.waiting_at(Some(PROMPT));
        prompt.waiting_at(None);
        assert!(
            !prompt.line_printed(now),
            "the prompt's line ended at Enter"
        );
        assert_eq!(prompt.due(), None);
        assert_eq!(prompt.show_again(now + PROMPT_QUIET * 10), None);
    }

    #[test]
    fn a_prompt_nobody_interrupted_is_left_alone() {
        let now = Instant::now();
        let mut prompt = PromptLine::new();
        prompt.waiting_at(Some(PROMPT));
        assert_eq!(prompt.due(), None, "it is on the screen already");
        assert_eq!(prompt.show_again(now + PROMPT_QUIET), None);
    }
}
