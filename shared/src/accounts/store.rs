//! Where OAuth states and accounts live: the single table (DESIGN §4).
//!
//! - OAuth state: `pk = OAUTH_STATE#<state>`, `sk = STATE`, TTL `expires_at`.
//! - Account: `pk = USER#<user_id>`, `sk = ACCOUNT#<platform>`, so a user's connections come
//!   with one Query and sit next to the user's `POST#` items without colliding with them.
//! - Link: `pk = LINK#<platform>#<platform user id>`, `sk = LINK`, `user_id`: which Reelay user
//!   holds that X account. One X account belongs to one Reelay user at a time (issue 12): the link
//!   is written in the same transaction as the account, on condition that nobody else holds it,
//!   moved when the user connects another X account, and released on disconnect.
//! - Accounts by X user id: the sparse index `ACCOUNTS_BY_X_USER_INDEX`, keyed on the account's
//!   own `x_user_id` (only account items carry it). It finds accounts stored before link items
//!   existed, which have none (`save_connection`, "accounts without a link").
//!
//! Every change that matters for token safety is a conditional write: states are consumed by a
//! conditional delete (exactly once), refreshes are guarded by a lease and `token_version`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use thiserror::Error;

use super::{Account, AccountStatus, EncryptedTokens, OAuthState, Platform};
use crate::ids::UserId;
use crate::resources::table::{
    ACCOUNTS_BY_X_USER_INDEX, ACCOUNTS_BY_X_USER_KEY, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE,
};
use crate::secret::Secret;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("DynamoDB {op} failed")]
    Dynamo {
        op: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("stored {what} item is malformed: {problem}")]
    Corrupt { what: &'static str, problem: String },
    /// Other writers kept changing the item between our read and our conditional write.
    #[error("{op} kept conflicting with concurrent writes; gave up after {attempts} attempts")]
    Contended { op: &'static str, attempts: u32 },
}

/// What `save_connection` did.
// One value per connect, moved once to the caller: boxing the account would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum SavedConnection {
    Saved {
        account: Account,
        /// The pair this connect replaced (a reconnect), exactly as it was stored when the write
        /// happened: it is in no item any more, and the caller revokes it at X.
        replaced: Option<EncryptedTokens>,
    },
    /// The X account is linked to another Reelay user (`owner`); nothing was written.
    LinkedElsewhere { owner: UserId },
}

/// What a successful connect writes.
#[derive(Debug, Clone)]
pub struct NewConnection {
    pub user_id: UserId,
    pub platform: Platform,
    pub x_user_id: String,
    pub username: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub status: AccountStatus,
    pub access_expires_at: u64,
    pub tokens: EncryptedTokens,
    pub now: u64,
}

/// What a successful refresh writes.
#[derive(Debug, Clone)]
pub struct RefreshedTokens {
    pub tokens: EncryptedTokens,
    pub access_expires_at: u64,
    pub scopes: Vec<String>,
    pub now: u64,
}

#[async_trait::async_trait]
pub trait AccountStore: Send + Sync {
    async fn put_state(&self, state: &OAuthState) -> Result<(), StoreError>;
    /// Deletes the state and returns it, or `None` if it does not exist (unknown or already
    /// used). Exactly one of several concurrent callers gets it. Expiry is the caller's check.
    async fn take_state(&self, state: &str) -> Result<Option<OAuthState>, StoreError>;

    async fn get_account(
        &self,
        user: &UserId,
        platform: Platform,
    ) -> Result<Option<Account>, StoreError>;
    async fn list_accounts(&self, user: &UserId) -> Result<Vec<Account>, StoreError>;
    /// Stores a (re)connected account and its link in one transaction, bumping `token_version`
    /// past any earlier pair and dropping any refresh lease. Refused, writing nothing of the new
    /// connection, when the X account is linked to another user, or held by another user's
    /// account stored before links existed (whose missing link is then written); a user who
    /// connects a different X account releases the link to the previous one. Returns the pair
    /// it replaced, if any.
    async fn save_connection(&self, new: &NewConnection) -> Result<SavedConnection, StoreError>;
    /// Takes the refresh lease if the account is still at `version`, active, and nobody holds an
    /// unexpired lease. `false` means someone else is refreshing (or already did).
    async fn try_lease_refresh(
        &self,
        user: &UserId,
        platform: Platform,
        version: u64,
        owner: &str,
        now: u64,
        until: u64,
    ) -> Result<bool, StoreError>;
    /// Stores a rotated pair if the account is still at `version`; bumps the version and
    /// releases the lease. `false` if the account moved on (reconnected or deleted).
    async fn save_refreshed(
        &self,
        user: &UserId,
        platform: Platform,
        version: u64,
        refreshed: &RefreshedTokens,
    ) -> Result<bool, StoreError>;
    async fn release_lease(
        &self,
        user: &UserId,
        platform: Platform,
        owner: &str,
    ) -> Result<(), StoreError>;
    /// `false` if there is no such account.
    async fn mark_needs_reconnect(
        &self,
        user: &UserId,
        platform: Platform,
        reason: &str,
        now: u64,
    ) -> Result<bool, StoreError>;
    /// Deletes the account and releases its link, and returns what was stored, if anything
    /// (the very token pair deleted: a refresh racing with this makes it read again).
    async fn delete_account(
        &self,
        user: &UserId,
        platform: Platform,
    ) -> Result<Option<Account>, StoreError>;
}

/// The DynamoDB adapter.
#[derive(Clone, Debug)]
pub struct DynamoAccountStore {
    db: Client,
    table: String,
}

impl DynamoAccountStore {
    pub fn new(db: Client, table: impl Into<String>) -> Self {
        Self {
            db,
            table: table.into(),
        }
    }

    /// The Reelay user holding the link to this platform account, if anyone does.
    async fn link_owner(
        &self,
        platform: Platform,
        platform_user_id: &str,
    ) -> Result<Option<UserId>, StoreError> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .set_key(Some(link_key(platform, platform_user_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo("GetItem(link)"))?;
        let Some(map) = out.item else {
            return Ok(None);
        };
        let item = Item {
            what: "link",
            map: &map,
        };
        UserId::parse(&item.s("user_id")?)
            .map(Some)
            .map_err(|e| item.corrupt(e.to_string()))
    }

    /// Deletes `user`'s link to a platform account, on condition that it is still theirs.
    fn link_release(
        &self,
        platform: Platform,
        platform_user_id: &str,
        user: &UserId,
    ) -> Result<Delete, StoreError> {
        Delete::builder()
            .table_name(&self.table)
            .set_key(Some(link_key(platform, platform_user_id)))
            .condition_expression("user_id = :user")
            .expression_attribute_values(":user", s(user.as_str()))
            .build()
            .map_err(dynamo("TransactWriteItems(release link)"))
    }

    /// Another Reelay user's account holding this platform account without a link item: one
    /// stored before link items existed. Read from the accounts-by-X-user index, which, unlike a
    /// new attribute, covers those old accounts: it is keyed on `x_user_id`, which every account
    /// has always carried, and DynamoDB builds a new index over the items already in the table.
    /// The index is eventually consistent, which is enough here: every account written since
    /// links exist is guarded by its link item, so the accounts this must find were all written
    /// long before the read.
    async fn unlinked_holder(
        &self,
        platform: Platform,
        platform_user_id: &str,
        user: &UserId,
    ) -> Result<Option<UserId>, StoreError> {
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .index_name(ACCOUNTS_BY_X_USER_INDEX)
            .key_condition_expression("#xid = :xid")
            .expression_attribute_names("#xid", ACCOUNTS_BY_X_USER_KEY)
            .expression_attribute_values(":xid", s(platform_user_id))
            .send()
            .await
            .map_err(dynamo("Query(accounts by X user)"))?;
        let sk = format!("{ACCOUNT_SK_PREFIX}{platform}");
        for map in out.items() {
            let item = Item {
                what: "account index entry",
                map,
            };
            if item.s(SORT_KEY)? != sk {
                continue;
            }
            let pk = item.s(PARTITION_KEY)?;
            let holder = pk
                .strip_prefix("USER#")
                .ok_or_else(|| item.corrupt("bad pk".into()))
                .and_then(|u| UserId::parse(u).map_err(|e| item.corrupt(e.to_string())))?;
            if &holder != user {
                return Ok(Some(holder));
            }
        }
        Ok(None)
    }

    /// Writes the link an account stored before links existed never got: on condition that
    /// nobody holds the link and that the account still holds that platform account. `false`
    /// when either changed since it was read.
    async fn backfill_link(
        &self,
        platform: Platform,
        platform_user_id: &str,
        holder: &UserId,
        now: u64,
    ) -> Result<bool, StoreError> {
        let mut link = link_key(platform, platform_user_id);
        link.insert("kind".into(), s("link"));
        link.insert("user_id".into(), s(holder.as_str()));
        link.insert("linked_at".into(), n(now));
        link.insert("backfilled".into(), AttributeValue::Bool(true));
        let items = vec![
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(account_key(holder, platform)))
                        .condition_expression("x_user_id = :xid")
                        .expression_attribute_values(":xid", s(platform_user_id))
                        .build()
                        .map_err(dynamo("TransactWriteItems(backfill link)"))?,
                )
                .build(),
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(link))
                        .condition_expression("attribute_not_exists(#pk)")
                        .expression_attribute_names("#pk", PARTITION_KEY)
                        .build()
                        .map_err(dynamo("TransactWriteItems(backfill link)"))?,
                )
                .build(),
        ];
        match self
            .db
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_transaction_canceled_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(dynamo("TransactWriteItems(backfill link)")(e)),
        }
    }

    /// The account write of a connect: every field of the new connection, `token_version`
    /// bumped, the lease dropped. Conditioned on the account as read (`previous`: the X account
    /// it held and its pair's version, so the pair returned as replaced is the one overwritten),
    /// or on there being no account.
    fn connection_update(
        &self,
        new: &NewConnection,
        previous: Option<&Account>,
    ) -> Result<Update, StoreError> {
        let (status, reason) = match &new.status {
            AccountStatus::Active => ("active", None),
            AccountStatus::NeedsReconnect { reason } => ("needs_reconnect", Some(reason)),
        };
        let mut set = vec![
            "#kind = :kind",
            "x_user_id = :xid",
            "#username = :username",
            "#name = :name",
            "#scopes = :scopes",
            "#status = :status",
            "access_expires_at = :exp",
            "#tokens = :tokens",
            "connected_at = :now",
            "updated_at = :now",
        ];
        let mut remove = vec!["lease_owner", "lease_until"];
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(account_key(&new.user_id, new.platform)))
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#username", "username")
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#scopes", "scopes")
            .expression_attribute_names("#tokens", "tokens")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":kind", s("account"))
            .expression_attribute_values(":xid", s(new.x_user_id.as_str()))
            .expression_attribute_values(":username", s(new.username.as_str()))
            .expression_attribute_values(":name", s(new.name.as_str()))
            .expression_attribute_values(":scopes", s(new.scopes.join(" ")))
            .expression_attribute_values(":status", s(status))
            .expression_attribute_values(":exp", n(new.access_expires_at))
            .expression_attribute_values(":tokens", AttributeValue::B(new.tokens.0.clone().into()))
            .expression_attribute_values(":now", n(new.now))
            .expression_attribute_values(":one", n(1));
        match reason {
            Some(reason) => {
                set.push("status_reason = :reason");
                update = update.expression_attribute_values(":reason", s(reason.as_str()));
            }
            None => remove.push("status_reason"),
        }
        update = match previous {
            Some(previous) => update
                .condition_expression("x_user_id = :previous AND token_version = :version")
                .expression_attribute_values(":previous", s(previous.x_user_id.as_str()))
                .expression_attribute_values(":version", n(previous.token_version)),
            None => update
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PARTITION_KEY),
        };
        // ADD keeps token_version growing across reconnects, so a worker still holding the
        // previous pair's version can never overwrite this pair.
        let expression = format!(
            "SET {} ADD token_version :one REMOVE {}",
            set.join(", "),
            remove.join(", ")
        );
        update
            .update_expression(expression)
            .build()
            .map_err(dynamo("TransactWriteItems(connect)"))
    }
}

fn link_item(new: &NewConnection) -> HashMap<String, AttributeValue> {
    let mut item = link_key(new.platform, &new.x_user_id);
    item.insert("kind".into(), s("link"));
    item.insert("user_id".into(), s(new.user_id.as_str()));
    item.insert("linked_at".into(), n(new.now));
    item
}

const STATE_SK: &str = "STATE";
const ACCOUNT_SK_PREFIX: &str = "ACCOUNT#";
const LINK_SK: &str = "LINK";
/// Reads and conditional writes of one account before giving up on a burst of concurrent writers
/// (a refresh or a second callback landing between the read and the write).
const WRITE_ATTEMPTS: u32 = 4;

fn state_key(state: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PARTITION_KEY.to_owned(), s(format!("OAUTH_STATE#{state}"))),
        (SORT_KEY.to_owned(), s(STATE_SK)),
    ])
}

fn user_pk(user: &UserId) -> String {
    format!("USER#{user}")
}

fn account_key(user: &UserId, platform: Platform) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PARTITION_KEY.to_owned(), s(user_pk(user))),
        (
            SORT_KEY.to_owned(),
            s(format!("{ACCOUNT_SK_PREFIX}{platform}")),
        ),
    ])
}

/// The link item of a platform account: keyed by the platform's user id, so that one X account
/// has exactly one item saying whose it is.
fn link_key(platform: Platform, platform_user_id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            PARTITION_KEY.to_owned(),
            s(format!("LINK#{platform}#{platform_user_id}")),
        ),
        (SORT_KEY.to_owned(), s(LINK_SK)),
    ])
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn dynamo<E: std::error::Error + Send + Sync + 'static>(
    op: &'static str,
) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Dynamo {
        op,
        source: Box::new(e),
    }
}

struct Item<'a> {
    what: &'static str,
    map: &'a HashMap<String, AttributeValue>,
}

impl Item<'_> {
    fn corrupt(&self, problem: String) -> StoreError {
        StoreError::Corrupt {
            what: self.what,
            problem,
        }
    }
    fn opt_s(&self, name: &str) -> Option<String> {
        self.map.get(name).and_then(|v| v.as_s().ok()).cloned()
    }
    fn s(&self, name: &str) -> Result<String, StoreError> {
        self.opt_s(name)
            .ok_or_else(|| self.corrupt(format!("missing string {name}")))
    }
    fn n(&self, name: &str) -> Result<u64, StoreError> {
        self.map
            .get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| self.corrupt(format!("missing number {name}")))
    }
    fn b(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        self.map
            .get(name)
            .and_then(|v| v.as_b().ok())
            .map(|b| b.as_ref().to_vec())
            .ok_or_else(|| self.corrupt(format!("missing binary {name}")))
    }
}

/// The attribute in which states written before issue 12 kept their verifier in plain text.
const LEGACY_PKCE_VERIFIER: &str = "pkce_verifier";

fn state_from_item(map: &HashMap<String, AttributeValue>) -> Result<OAuthState, StoreError> {
    let item = Item {
        what: "OAuth state",
        map,
    };
    let pk = item.s(PARTITION_KEY)?;
    let state = pk
        .strip_prefix("OAUTH_STATE#")
        .ok_or_else(|| item.corrupt("bad pk".into()))?
        .to_owned();
    Ok(OAuthState {
        state,
        user_id: UserId::parse(&item.s("user_id")?).map_err(|e| item.corrupt(e.to_string()))?,
        // Written only by the version before derived verifiers (issue 12); see `OAuthState`.
        legacy_pkce_verifier: item.opt_s(LEGACY_PKCE_VERIFIER).map(Secret::new),
        return_to: item.opt_s("return_to"),
        platform: match item.opt_s("platform") {
            None => Platform::Twitter,
            Some(name) => Platform::from_stored(&name)
                .ok_or_else(|| item.corrupt(format!("unknown platform {name:?}")))?,
        },
        created_at: item.n("created_at")?,
        expires_at: item.n(TTL_ATTRIBUTE)?,
    })
}

fn account_from_item(map: &HashMap<String, AttributeValue>) -> Result<Account, StoreError> {
    let item = Item {
        what: "account",
        map,
    };
    let user = item.s(PARTITION_KEY)?;
    let user = user
        .strip_prefix("USER#")
        .and_then(|u| UserId::parse(u).ok())
        .ok_or_else(|| item.corrupt("bad pk".into()))?;
    let sort_key = item.s(SORT_KEY)?;
    let stored = sort_key.strip_prefix(ACCOUNT_SK_PREFIX);
    let platform = stored
        .and_then(Platform::from_stored)
        .ok_or_else(|| item.corrupt(format!("unknown platform {stored:?}")))?;
    let status = match item.s("status")?.as_str() {
        "active" => AccountStatus::Active,
        "needs_reconnect" => AccountStatus::NeedsReconnect {
            reason: item.opt_s("status_reason").unwrap_or_default(),
        },
        other => return Err(item.corrupt(format!("unknown status {other:?}"))),
    };
    Ok(Account {
        user_id: user,
        platform,
        x_user_id: item.s("x_user_id")?,
        username: item.s("username")?,
        name: item.opt_s("name").unwrap_or_default(),
        scopes: item
            .opt_s("scopes")
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        status,
        token_version: item.n("token_version")?,
        access_expires_at: item.n("access_expires_at")?,
        tokens: EncryptedTokens(item.b("tokens")?),
        connected_at: item.n("connected_at")?,
        updated_at: item.n("updated_at")?,
    })
}

fn is_condition_failed<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

#[async_trait::async_trait]
impl AccountStore for DynamoAccountStore {
    #[tracing::instrument(skip_all, fields(user_id = %state.user_id))]
    async fn put_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        let mut item = state_key(&state.state);
        item.insert("kind".into(), s("oauth_state"));
        item.insert("user_id".into(), s(state.user_id.as_str()));
        // No verifier, nor anything derived from it: the callback derives it from the state
        // (`accounts::pkce`). `legacy_pkce_verifier` is read-only.
        item.insert("created_at".into(), n(state.created_at));
        item.insert(TTL_ATTRIBUTE.into(), n(state.expires_at));
        item.insert("platform".into(), s(state.platform.as_str()));
        if let Some(r) = &state.return_to {
            item.insert("return_to".into(), s(r.as_str()));
        }
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .send()
            .await
            .map_err(dynamo("PutItem(state)"))?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn take_state(&self, state: &str) -> Result<Option<OAuthState>, StoreError> {
        let deleted = self
            .db
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(state_key(state)))
            // Exactly once: of two callbacks racing with the same state, one deletes it and the
            // other fails this condition.
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match deleted {
            Ok(out) => match out.attributes {
                Some(attrs) => state_from_item(&attrs).map(Some),
                None => Ok(None),
            },
            Err(e) if is_condition_failed(&e) => Ok(None),
            Err(e) => Err(dynamo("DeleteItem(state)")(e)),
        }
    }

    #[tracing::instrument(skip(self), fields(user_id = %user))]
    async fn get_account(
        &self,
        user: &UserId,
        platform: Platform,
    ) -> Result<Option<Account>, StoreError> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .set_key(Some(account_key(user, platform)))
            // Workers re-read after a sibling's refresh; an eventually consistent read could
            // return the pair X has already spent.
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo("GetItem(account)"))?;
        out.item.as_ref().map(account_from_item).transpose()
    }

    #[tracing::instrument(skip(self), fields(user_id = %user))]
    async fn list_accounts(&self, user: &UserId) -> Result<Vec<Account>, StoreError> {
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_values(":pk", s(user_pk(user)))
            .expression_attribute_values(":prefix", s(ACCOUNT_SK_PREFIX))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo("Query(accounts)"))?;
        out.items().iter().map(account_from_item).collect()
    }

    #[tracing::instrument(skip_all, fields(user_id = %new.user_id, x_user_id = %new.x_user_id))]
    async fn save_connection(&self, new: &NewConnection) -> Result<SavedConnection, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            // Accounts without a link: an account stored before link items existed holds its X
            // account with no link item, so the link write below would not see it. When nobody
            // holds the link, look for such an account; if another user has one, the X account
            // is theirs: write their missing link (so from now on the link guards it like any
            // other) and refuse. Backfilling links elsewhere (a sweep, the next token use) would
            // leave the account open until it ran; this check is at the one place a second link
            // can be made, so there is no window.
            if self
                .link_owner(new.platform, &new.x_user_id)
                .await?
                .is_none()
            {
                if let Some(holder) = self
                    .unlinked_holder(new.platform, &new.x_user_id, &new.user_id)
                    .await?
                {
                    if self
                        .backfill_link(new.platform, &new.x_user_id, &holder, new.now)
                        .await?
                    {
                        tracing::warn!(owner = %holder, "X account held by an account without a link; its link was written");
                        return Ok(SavedConnection::LinkedElsewhere { owner: holder });
                    }
                    // The link appeared or that account changed meanwhile: look again.
                    continue;
                }
            }
            // The account as stored now: which X account it holds decides which link to release,
            // and its pair is the one this write replaces. The write is conditioned on both, so a
            // concurrent connect or refresh makes this round start over.
            let previous = self.get_account(&new.user_id, new.platform).await?;
            let mut items = vec![
                TransactWriteItem::builder()
                    .update(self.connection_update(new, previous.as_ref())?)
                    .build(),
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(link_item(new)))
                            .condition_expression("attribute_not_exists(#pk) OR user_id = :user")
                            .expression_attribute_names("#pk", PARTITION_KEY)
                            .expression_attribute_values(":user", s(new.user_id.as_str()))
                            .build()
                            .map_err(dynamo("TransactWriteItems(connect)"))?,
                    )
                    .build(),
            ];
            if let Some(old) = previous
                .as_ref()
                .map(|p| p.x_user_id.as_str())
                .filter(|old| *old != new.x_user_id)
            {
                // Only a link this user holds is released (an account stored before links
                // existed may have none).
                if self.link_owner(new.platform, old).await?.as_ref() == Some(&new.user_id) {
                    items.push(
                        TransactWriteItem::builder()
                            .delete(self.link_release(new.platform, old, &new.user_id)?)
                            .build(),
                    );
                }
            }
            match self
                .db
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
            {
                Ok(_) => {
                    // A transaction returns no attributes: read back the stored account (with
                    // its new `token_version`).
                    let account = self
                        .get_account(&new.user_id, new.platform)
                        .await?
                        .ok_or_else(|| StoreError::Corrupt {
                            what: "account",
                            problem: "gone right after it was stored".into(),
                        })?;
                    return Ok(SavedConnection::Saved {
                        account,
                        replaced: previous.map(|p| p.tokens),
                    });
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_transaction_canceled_exception()) =>
                {
                    match self.link_owner(new.platform, &new.x_user_id).await? {
                        Some(owner) if owner != new.user_id => {
                            return Ok(SavedConnection::LinkedElsewhere { owner })
                        }
                        // The account changed between the read and the write: again.
                        _ => continue,
                    }
                }
                Err(e) => return Err(dynamo("TransactWriteItems(connect)")(e)),
            }
        }
        Err(StoreError::Contended {
            op: "TransactWriteItems(connect)",
            attempts: WRITE_ATTEMPTS,
        })
    }

    #[tracing::instrument(skip(self, owner), fields(user_id = %user))]
    async fn try_lease_refresh(
        &self,
        user: &UserId,
        platform: Platform,
        version: u64,
        owner: &str,
        now: u64,
        until: u64,
    ) -> Result<bool, StoreError> {
        let result = self
            .db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(account_key(user, platform)))
            .update_expression("SET lease_owner = :owner, lease_until = :until")
            .condition_expression(
                "token_version = :v AND #status = :active \
                 AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":v", n(version))
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(dynamo("UpdateItem(lease)")(e)),
        }
    }

    #[tracing::instrument(skip(self, refreshed), fields(user_id = %user))]
    async fn save_refreshed(
        &self,
        user: &UserId,
        platform: Platform,
        version: u64,
        refreshed: &RefreshedTokens,
    ) -> Result<bool, StoreError> {
        let result = self
            .db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(account_key(user, platform)))
            .update_expression(
                "SET #tokens = :tokens, access_expires_at = :exp, #scopes = :scopes, \
                 updated_at = :now ADD token_version :one REMOVE lease_owner, lease_until",
            )
            // Only the version matters: a refresh that X accepted means this pair is the one
            // live pair of this lineage, so it must be stored unless a reconnect replaced it.
            .condition_expression("token_version = :v")
            .expression_attribute_names("#tokens", "tokens")
            .expression_attribute_names("#scopes", "scopes")
            .expression_attribute_values(
                ":tokens",
                AttributeValue::B(refreshed.tokens.0.clone().into()),
            )
            .expression_attribute_values(":exp", n(refreshed.access_expires_at))
            .expression_attribute_values(":scopes", s(refreshed.scopes.join(" ")))
            .expression_attribute_values(":now", n(refreshed.now))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":v", n(version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(dynamo("UpdateItem(refreshed)")(e)),
        }
    }

    #[tracing::instrument(skip(self, owner), fields(user_id = %user))]
    async fn release_lease(
        &self,
        user: &UserId,
        platform: Platform,
        owner: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(account_key(user, platform)))
            .update_expression("REMOVE lease_owner, lease_until")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(dynamo("UpdateItem(release)")(e)),
        }
    }

    #[tracing::instrument(skip(self), fields(user_id = %user))]
    async fn mark_needs_reconnect(
        &self,
        user: &UserId,
        platform: Platform,
        reason: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let result = self
            .db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(account_key(user, platform)))
            .update_expression(
                "SET #status = :status, status_reason = :reason, updated_at = :now \
                 REMOVE lease_owner, lease_until",
            )
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_values(":status", s("needs_reconnect"))
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(dynamo("UpdateItem(needs_reconnect)")(e)),
        }
    }

    #[tracing::instrument(skip(self), fields(user_id = %user))]
    async fn delete_account(
        &self,
        user: &UserId,
        platform: Platform,
    ) -> Result<Option<Account>, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some(account) = self.get_account(user, platform).await? else {
                return Ok(None);
            };
            // Conditioned on the version read, so the pair returned (and revoked by the caller)
            // is the pair deleted, not one a concurrent refresh already replaced.
            let mut items = vec![TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(account_key(user, platform)))
                        .condition_expression("token_version = :v")
                        .expression_attribute_values(":v", n(account.token_version))
                        .build()
                        .map_err(dynamo("TransactWriteItems(disconnect)"))?,
                )
                .build()];
            if self
                .link_owner(platform, &account.x_user_id)
                .await?
                .as_ref()
                == Some(user)
            {
                items.push(
                    TransactWriteItem::builder()
                        .delete(self.link_release(platform, &account.x_user_id, user)?)
                        .build(),
                );
            }
            match self
                .db
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
            {
                Ok(_) => return Ok(Some(account)),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_transaction_canceled_exception()) =>
                {
                    continue
                }
                Err(e) => return Err(dynamo("TransactWriteItems(disconnect)")(e)),
            }
        }
        Err(StoreError::Contended {
            op: "TransactWriteItems(disconnect)",
            attempts: WRITE_ATTEMPTS,
        })
    }
}
