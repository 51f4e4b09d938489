//! A list's cursor and scroll offset, kept on screen for a viewport height.

/// One queue view's rows (indices into the queue model) and cursor.
#[derive(Debug, Clone, Default)]
pub struct ListState {
    /// Indices of the cases shown, in display order.
    pub rows: Vec<u32>,
    /// The row under the cursor (an index into `rows`).
    pub selected: usize,
    /// The first row on screen.
    pub offset: usize,
}

impl ListState {
    /// The case (index into the queue model) under the cursor.
    pub fn selected_case(&self) -> Option<usize> {
        self.rows.get(self.selected).map(|&i| i as usize)
    }

    /// Moves the cursor, keeping it on screen for a viewport of `height` rows.
    pub(super) fn move_to(&mut self, target: isize, height: usize) -> bool {
        let len = self.rows.len();
        self.move_within(target, len, height)
    }

    /// As `move_to`, for a list of `len` rows held elsewhere (the evidence
    /// log is shown from the records themselves, newest first).
    pub(super) fn move_within(&mut self, target: isize, len: usize, height: usize) -> bool {
        if len == 0 {
            return false;
        }
        let target = target.clamp(0, len as isize - 1) as usize;
        let before = (self.selected, self.offset);
        self.selected = target;
        self.scroll_into_view(len, height);
        before != (self.selected, self.offset)
    }

    /// Scrolls so the cursor is on screen and no row past the end is.
    pub(super) fn scroll_into_view(&mut self, len: usize, height: usize) {
        let height = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        let max_offset = len.saturating_sub(height);
        self.offset = self.offset.min(max_offset);
    }
}
