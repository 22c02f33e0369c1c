//! The stock models a sync touches, with their fields and access rules, as Odoo 17 and the
//! OpenG2P registry modules define them. A field not listed here does not exist: naming it
//! is the `Invalid field` error a real server gives (there is no `x_datacollect_guid`).

/// A field's type, as far as reading, writing and comparing it differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Char(size=…)`: a longer value is cut, silently (O17:odoo/fields.py:1939-1949).
    Char(Option<usize>),
    Text,
    Boolean,
    Integer,
    Float,
    /// Read and written as `YYYY-MM-DD`.
    Date,
    /// Stored with microseconds, read truncated to `YYYY-MM-DD HH:MM:SS`
    /// (O17:odoo/fields.py:2209-2212, 2287-2297).
    Datetime,
    Selection(Choices),
    /// Stored as an id, read as `[id, display name]` (O17:odoo/fields.py:3098-3110).
    Many2one(&'static str),
    /// The comodel and its inverse Many2one; read as a list of ids.
    One2many(&'static str, &'static str),
    Many2many(&'static str),
}

/// Where a Selection's allowed values come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choices {
    Fixed(&'static [&'static str]),
    /// `res.partner.gender`: the `value` of every active `gender.type`
    /// (G2P:g2p_registry_individual/models/individual.py:16-18, 27).
    GenderValues,
}

#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    /// The label Odoo prints in NOT NULL messages.
    pub label: &'static str,
    pub kind: Kind,
    /// Enforced by the database (NOT NULL), not by the ORM before it.
    pub required: bool,
}

/// Read, write, create, unlink, as in `ir.model.access.csv`.
pub type Perms = [bool; 4];

#[derive(Debug)]
pub struct Model {
    pub name: &'static str,
    /// `_description`, as ACL messages name the model.
    pub description: &'static str,
    pub fields: Vec<Field>,
    /// The default `_order`.
    pub order: &'static str,
    /// The field a Many2one pointing here shows (`_rec_name`).
    pub rec_name: &'static str,
    /// `(group xmlid, perms)`; `None` is a line with no group: every user.
    pub acl: &'static [(Option<&'static str>, Perms)],
}

impl Model {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

pub const ADMIN: &str = "g2p_registry_base.group_g2p_admin";
pub const REGISTRAR: &str = "g2p_registry_base.group_g2p_registrar";
pub const USER: &str = "base.group_user";
pub const PARTNER_MANAGER: &str = "base.group_partner_manager";
pub const ERP_MANAGER: &str = "base.group_erp_manager";

/// Security groups: xmlid and `Category/Name` as ACL messages list them
/// (O17:odoo/addons/base/models/ir_model.py:1963-1981; G2P:g2p_registry_base/security/g2p_security.xml:9-32).
pub const GROUPS: &[(&str, &str)] = &[
    (USER, "User types/Internal User"),
    (PARTNER_MANAGER, "Extra Rights/Contact Creation"),
    (ERP_MANAGER, "Administration/Access Rights"),
    (ADMIN, "OpenG2P Module Access/Administrator"),
    (REGISTRAR, "OpenG2P Module Access/Registrar"),
];

const ALL: Perms = [true, true, true, true];
const NO_DELETE: Perms = [true, true, true, false];
const READ: Perms = [true, false, false, false];
const NONE: Perms = [false, false, false, false];

const fn f(name: &'static str, label: &'static str, kind: Kind) -> Field {
    Field {
        name,
        label,
        kind,
        required: false,
    }
}

const fn req(name: &'static str, label: &'static str, kind: Kind) -> Field {
    Field {
        name,
        label,
        kind,
        required: true,
    }
}

/// The fields every model has (O17:odoo/models.py:256-259).
fn magic() -> Vec<Field> {
    vec![
        f("id", "ID", Kind::Integer),
        f("display_name", "Display Name", Kind::Char(None)),
        f("create_date", "Created on", Kind::Datetime),
        f("write_date", "Last Updated on", Kind::Datetime),
    ]
}

fn model(
    name: &'static str,
    description: &'static str,
    order: &'static str,
    rec_name: &'static str,
    acl: &'static [(Option<&'static str>, Perms)],
    fields: Vec<Field>,
) -> Model {
    let mut all = magic();
    all.extend(fields);
    Model {
        name,
        description,
        fields: all,
        order,
        rec_name,
        acl,
    }
}

/// Every model the emulator serves.
pub fn models() -> Vec<Model> {
    use Kind::*;
    let char = Char(None);
    vec![
        // Base contact fields (O17:odoo/addons/base/models/res_partner.py:178, 240-249),
        // the registrant (G2P:g2p_registry_base/models/registrant.py:17-38), individual
        // (G2P:g2p_registry_individual/models/individual.py:20-27), group
        // (G2P:g2p_registry_group/models/group.py:13-15) and membership fields
        // (G2P:g2p_registry_membership/models/group.py:14-28, individual.py:13).
        // ACL: O17:odoo/addons/base/security/ir.model.access.csv:74-75 (registrars get
        // 1/1/1/1 through `base.group_partner_manager`, which their group implies);
        // G2P:g2p_registry_base/security/ir.model.access.csv:20.
        model(
            "res.partner",
            "Contact",
            "name asc, id desc",
            "name",
            &[
                (Some(PARTNER_MANAGER), ALL),
                (Some(USER), READ),
                (Some(REGISTRAR), NO_DELETE),
            ],
            vec![
                f("name", "Name", char),
                f("active", "Active", Boolean),
                f(
                    "type",
                    "Address Type",
                    Selection(Choices::Fixed(&[
                        "contact", "invoice", "delivery", "private", "other",
                    ])),
                ),
                f("company_id", "Company", Many2one("res.company")),
                f("email", "Email", char),
                f("phone", "Phone", char),
                f("mobile", "Mobile", char),
                f("is_registrant", "Registrant", Boolean),
                f("is_group", "Group", Boolean),
                f("registration_date", "Registration Date", Date),
                f("address", "Address", Text),
                f("civil_status", "Civil Status", char),
                f("occupation", "Occupation", char),
                f("income", "Income", Float),
                f("disabled", "Date Disabled", Datetime),
                f("disabled_reason", "Reason for disabling", Text),
                f(
                    "reg_ids",
                    "Registrant IDs",
                    One2many("g2p.reg.id", "partner_id"),
                ),
                f("family_name", "Family Name", char),
                f("given_name", "Given Name", char),
                f("addl_name", "Additional Name", char),
                f("birth_place", "Birth Place", char),
                f("birthdate_not_exact", "Approximate Birthdate", Boolean),
                f("birthdate", "Date of Birth", Date),
                f("gender", "Gender", Selection(Choices::GenderValues)),
                f("kind", "Kind", Many2one("g2p.group.kind")),
                f("is_partial_group", "Partial Group", Boolean),
                f(
                    "group_membership_ids",
                    "Group Members",
                    One2many("g2p.group.membership", "group"),
                ),
                f(
                    "individual_membership_ids",
                    "Membership to Groups",
                    One2many("g2p.group.membership", "individual"),
                ),
                f("force_recompute_canary", "Force Recompute Canary", Datetime),
                f(
                    "z_ind_grp_num_individuals",
                    "Number of individuals",
                    Integer,
                ),
            ],
        ),
        model(
            "res.company",
            "Companies",
            "name asc",
            "name",
            &[(None, READ)],
            vec![f("name", "Company Name", char)],
        ),
        // O17:odoo/addons/base/security/ir.model.access.csv:86-87.
        model(
            "res.users",
            "User",
            "name asc, login asc",
            "name",
            &[(Some(USER), READ), (Some(ERP_MANAGER), ALL)],
            vec![
                f("name", "Name", char),
                f("login", "Login", char),
                f("active", "Active", Boolean),
                f("groups_id", "Groups", Many2many("res.groups")),
            ],
        ),
        model(
            "res.groups",
            "Access Groups",
            "name asc",
            "name",
            &[(Some(USER), READ), (Some(ERP_MANAGER), ALL)],
            vec![f("name", "Name", char)],
        ),
        // Readable only with Access Rights (O17:odoo/addons/base/security/ir.model.access.csv:14, 18).
        model(
            "ir.model.data",
            "Model Data",
            "module asc, model asc, name asc",
            "name",
            &[(Some(ERP_MANAGER), ALL), (Some(USER), NONE)],
            vec![
                f("name", "External Identifier", char),
                f("module", "Module", char),
                f("model", "Model Name", char),
                f("res_id", "Record ID", Integer),
            ],
        ),
        // G2P:g2p_registry_individual/models/gender.py:5-23; ACL ibid security csv:2-3.
        model(
            "gender.type",
            "Gender Type",
            "id asc",
            "code",
            &[(Some(ADMIN), ALL), (None, READ)],
            vec![
                f("code", "Code", char),
                f("value", "Value", char),
                f("active", "Active", Boolean),
            ],
        ),
        // G2P:g2p_registry_base/models/reg_id.py:71-88; OSPP:spp_idpass/models/id_type.py:10-13;
        // ACL G2P:g2p_registry_base/security/ir.model.access.csv:6, 24.
        model(
            "g2p.id.type",
            "ID Type",
            "name asc",
            "name",
            &[(Some(ADMIN), ALL), (Some(REGISTRAR), READ)],
            vec![
                f("name", "Name", char),
                f("id_validation", "ID Validation", char),
                f(
                    "target_type",
                    "Target Type",
                    Selection(Choices::Fixed(&["individual", "group", "both"])),
                ),
            ],
        ),
        // G2P:g2p_registry_base/models/reg_id.py:9-68; OSPP:spp_base/models/reg_id.py:13;
        // ACL G2P:g2p_registry_base/security/ir.model.access.csv:5, 23.
        model(
            "g2p.reg.id",
            "Registrant ID",
            "id desc",
            "value",
            &[(Some(ADMIN), ALL), (Some(REGISTRAR), NO_DELETE)],
            vec![
                req("partner_id", "Registrant", Many2one("res.partner")),
                req("id_type", "ID Type", Many2one("g2p.id.type")),
                f("value", "Value", Char(Some(100))),
                f("expiry_date", "Expiry Date", Date),
                f("id_type_as_str", "Id Type As Str", char),
                f(
                    "status",
                    "Status",
                    Selection(Choices::Fixed(&["invalid", "valid"])),
                ),
                f("description", "Description", char),
                f("card_uid", "Card UID", char),
            ],
        ),
        // G2P:g2p_registry_group/models/group.py:18-34; data/group_kinds.xml:3-8;
        // ACL G2P:g2p_registry_group/security/ir.model.access.csv:2, 4.
        model(
            "g2p.group.kind",
            "Group Kind",
            "id desc",
            "name",
            &[(Some(ADMIN), ALL), (Some(REGISTRAR), READ)],
            vec![f("name", "Kind", char)],
        ),
        // G2P:g2p_registry_membership/models/group_membership.py:11-38;
        // ACL G2P:g2p_registry_membership/security/ir.model.access.csv:2, 5.
        model(
            "g2p.group.membership",
            "Group Membership",
            "id desc",
            "group",
            &[(Some(ADMIN), ALL), (Some(REGISTRAR), NO_DELETE)],
            vec![
                req("group", "Group", Many2one("res.partner")),
                req("individual", "Individual", Many2one("res.partner")),
                f("kind", "Kind", Many2many("g2p.group.membership.kind")),
                f("start_date", "Start Date", Datetime),
                f("ended_date", "Ended Date", Datetime),
                f(
                    "status",
                    "Status",
                    Selection(Choices::Fixed(&["active", "inactive"])),
                ),
                f("is_ended", "Is Ended", Boolean),
            ],
        ),
        // G2P:g2p_registry_membership/models/group_membership.py:200-241; ACL csv:3, 6.
        model(
            "g2p.group.membership.kind",
            "Group Membership Kind",
            "id desc",
            "name",
            &[(Some(ADMIN), ALL), (Some(REGISTRAR), READ)],
            vec![f("name", "Kind", char), f("is_unique", "Unique", Boolean)],
        ),
    ]
}
