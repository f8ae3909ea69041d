//! The frame around every signed-in page: who is signed in, the way back (tenant → project) and the
//! sections of the place the page is in. A section's link is shown only when the page table has a page
//! for it and the user's role may read it (see [`super::page::may`]), so a page added to the table
//! appears in the navigation by itself.

use super::page::{PAGES, Signed, may};
use crate::auth::Caller;

/// A link of the navigation.
#[derive(Clone, Debug)]
pub struct Link {
    pub label: &'static str,
    pub href: String,
    /// Whether this is the page being shown.
    pub here: bool,
}

/// A step of the way back: a tenant or a project.
#[derive(Clone, Debug)]
pub struct Crumb {
    pub href: String,
    pub name: String,
}

/// Sections of a tenant: label and the page pattern it links to.
const TENANT_SECTIONS: &[(&str, &str)] = &[
    ("Tenant", "/tenants/{tenant}"),
    ("Audit", "/tenants/{tenant}/audit"),
    ("Transactions", "/tenants/{tenant}/transactions"),
];

/// Sections of a project.
const PROJECT_SECTIONS: &[(&str, &str)] = &[
    ("Project", "/tenants/{tenant}/projects/{project}"),
    ("Mappings", "/tenants/{tenant}/projects/{project}/mappings"),
    ("Events", "/tenants/{tenant}/projects/{project}/events"),
    (
        "Assessment",
        "/tenants/{tenant}/projects/{project}/assessment",
    ),
    ("Report", "/tenants/{tenant}/projects/{project}/report"),
    ("Tickets", "/tenants/{tenant}/projects/{project}/tickets"),
    (
        "Approvals",
        "/tenants/{tenant}/projects/{project}/approvals",
    ),
];

/// What `layout.html` needs.
#[derive(Clone, Debug)]
pub struct Frame {
    pub csrf: String,
    pub name: String,
    pub operator: bool,
    /// The user's role on the tenant of the page (none for the operator or outside a tenant).
    pub role: Option<&'static str>,
    pub tenant: Option<Crumb>,
    pub project: Option<Crumb>,
    pub sections: Vec<Link>,
    here: &'static str,
    tenant_id: Option<String>,
    project_id: Option<String>,
    caller: Caller,
}

impl Frame {
    pub fn new(signed: &Signed, caller: &Caller) -> Frame {
        Frame {
            csrf: signed.csrf.clone(),
            name: signed.name.clone(),
            operator: signed.operator,
            role: caller.role.map(|r| r.as_str()),
            tenant: None,
            project: None,
            sections: Vec::new(),
            here: "",
            tenant_id: None,
            project_id: None,
            caller: caller.clone(),
        }
    }

    /// The page is in tenant `id`.
    pub fn tenant(mut self, id: impl ToString, name: &str) -> Frame {
        let id = id.to_string();
        self.tenant = Some(Crumb {
            href: format!("/tenants/{id}"),
            name: name.to_owned(),
        });
        self.tenant_id = Some(id);
        self.sections = self.links();
        self
    }

    /// The page is in project `id` (of the tenant given before).
    pub fn project(mut self, id: impl ToString, name: &str) -> Frame {
        let id = id.to_string();
        let tenant = self.tenant_id.clone().unwrap_or_default();
        self.project = Some(Crumb {
            href: format!("/tenants/{tenant}/projects/{id}"),
            name: name.to_owned(),
        });
        self.project_id = Some(id);
        self.sections = self.links();
        self
    }

    /// The section being shown (its label).
    pub fn here(mut self, label: &'static str) -> Frame {
        self.here = label;
        self.sections = self.links();
        self
    }

    fn links(&self) -> Vec<Link> {
        let Some(tenant) = &self.tenant_id else {
            return Vec::new();
        };
        let (sections, project) = match &self.project_id {
            Some(p) => (PROJECT_SECTIONS, p.as_str()),
            None => (TENANT_SECTIONS, ""),
        };
        sections
            .iter()
            .filter(|(_, pattern)| {
                PAGES
                    .iter()
                    .any(|p| p.method == "GET" && p.path == *pattern && may(&self.caller, p))
            })
            .map(|(label, pattern)| Link {
                label,
                href: pattern
                    .replace("{tenant}", tenant)
                    .replace("{project}", project),
                here: *label == self.here,
            })
            .collect()
    }
}
