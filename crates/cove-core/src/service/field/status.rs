//! The appointment state machine. Every move is checked here and written
//! with a conditional UPDATE on the old status, so two racing moves cannot
//! both win.

use crate::error::{Error, Result};
use crate::service::entitlements::string_enum;
use serde::{Deserialize, Serialize};

string_enum!(
    /// Where an on-site visit stands.
    Status, "invalid_appointment_status", {
    /// Asked for, no engineer yet.
    Requested = "requested",
    /// Booked into a slot with an engineer pencilled in; awaiting dispatch.
    Scheduled = "scheduled",
    /// The service desk confirmed the engineer.
    Dispatched = "dispatched",
    EnRoute = "en_route",
    OnSite = "on_site",
    Completed = "completed",
    Cancelled = "cancelled",
    /// The engineer came and nobody was there.
    NoShow = "no_show",
});

impl Status {
    /// The statuses a visit may move to from this one.
    pub fn next(self) -> &'static [Status] {
        use Status::*;
        match self {
            Requested => &[Scheduled, Cancelled],
            Scheduled => &[Dispatched, Cancelled],
            Dispatched => &[EnRoute, Cancelled, NoShow],
            EnRoute => &[OnSite, NoShow],
            OnSite => &[Completed],
            Completed | Cancelled | NoShow => &[],
        }
    }

    /// Refuses an illegal move with `illegal_transition` (409).
    pub fn check_move(self, to: Status) -> Result<()> {
        if self.next().contains(&to) {
            Ok(())
        } else {
            Err(Error::conflict(
                "illegal_transition",
                format!(
                    "an appointment cannot go from {} to {}",
                    self.as_str(),
                    to.as_str()
                ),
            ))
        }
    }

    /// Whether the visit can still move to another slot or engineer.
    pub fn is_plannable(self) -> bool {
        matches!(
            self,
            Status::Requested | Status::Scheduled | Status::Dispatched
        )
    }

    /// Whether the engineer is confirmed for the visit (their contact may show).
    pub fn engineer_confirmed(self) -> bool {
        matches!(
            self,
            Status::Dispatched | Status::EnRoute | Status::OnSite | Status::Completed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_moves_are_legal() {
        for from in Status::ALL {
            for to in Status::ALL {
                let legal = from.next().contains(to);
                assert_eq!(from.check_move(*to).is_ok(), legal, "{from:?} -> {to:?}");
            }
        }
        assert!(Status::OnSite.check_move(Status::Completed).is_ok());
        assert_eq!(
            Status::Completed
                .check_move(Status::Cancelled)
                .unwrap_err()
                .code(),
            "illegal_transition"
        );
        assert!(Status::Scheduled.check_move(Status::Completed).is_err());
    }

    #[test]
    fn terminal_statuses_go_nowhere() {
        for s in [Status::Completed, Status::Cancelled, Status::NoShow] {
            assert!(s.next().is_empty() && !s.is_plannable());
        }
    }
}
