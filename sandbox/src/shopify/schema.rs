//! The slice of the Admin GraphQL schema (2026-07) the fake serves: which fields each type
//! has, what they return and which arguments they take. It drives validation (unknown
//! fields and arguments are rejected as Shopify rejects them), cost calculation and the
//! projection of resolved data onto the query's selection sets.

/// What a field returns, as far as validation, cost and projection care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A scalar, an enum or a list of them: costs nothing, takes no selections.
    Scalar,
    /// One object of the named type (costs 1 plus its selections).
    Object(&'static str),
    /// A plain list of objects of the named type (its selections cost once).
    List(&'static str),
    /// A paginated connection: (connection type, node type).
    Connection(&'static str, &'static str),
}

pub struct FieldDef {
    pub name: &'static str,
    pub kind: Kind,
    pub args: &'static [&'static str],
}

const fn f(name: &'static str, kind: Kind, args: &'static [&'static str]) -> FieldDef {
    FieldDef { name, kind, args }
}
const fn s(name: &'static str) -> FieldDef {
    FieldDef {
        name,
        kind: Kind::Scalar,
        args: &[],
    }
}

use Kind::{Connection, List, Object};

const CONN_ARGS: &[&str] = &[
    "first", "last", "after", "before", "reverse", "query", "sortKey",
];

const QUERY_ROOT: &[FieldDef] = &[
    f("shop", Object("Shop"), &[]),
    f("currentAppInstallation", Object("AppInstallation"), &[]),
    f(
        "locations",
        Connection("LocationConnection", "Location"),
        &[
            "first",
            "last",
            "after",
            "before",
            "reverse",
            "query",
            "sortKey",
            "includeInactive",
            "includeLegacy",
        ],
    ),
    f("location", Object("Location"), &["id"]),
    f(
        "productVariants",
        Connection("ProductVariantConnection", "ProductVariant"),
        CONN_ARGS,
    ),
    f("productVariant", Object("ProductVariant"), &["id"]),
    f("product", Object("Product"), &["id"]),
    f("productByIdentifier", Object("Product"), &["identifier"]),
    f("inventoryItem", Object("InventoryItem"), &["id"]),
    f("inventoryLevel", Object("InventoryLevel"), &["id"]),
    f("node", Object("Node"), &["id"]),
    f("nodes", List("Node"), &["ids"]),
    f("productVariantsCount", Object("Count"), &["query", "limit"]),
    f(
        "publications",
        Connection("PublicationConnection", "Publication"),
        &["first", "last", "after", "before", "reverse", "catalogType"],
    ),
    f("bulkOperation", Object("BulkOperation"), &["id"]),
    f("currentBulkOperation", Object("BulkOperation"), &["type"]),
];

const MUTATION_ROOT: &[FieldDef] = &[
    f(
        "bulkOperationRunMutation",
        Object("BulkOperationRunMutationPayload"),
        &[
            "mutation",
            "stagedUploadPath",
            "groupObjects",
            "clientIdentifier",
        ],
    ),
    f(
        "stagedUploadsCreate",
        Object("StagedUploadsCreatePayload"),
        &["input"],
    ),
    f(
        "bulkOperationRunQuery",
        Object("BulkOperationRunQueryPayload"),
        &["query", "groupObjects"],
    ),
    f(
        "productVariantsBulkUpdate",
        Object("ProductVariantsBulkUpdatePayload"),
        &["productId", "variants", "allowPartialUpdates", "media"],
    ),
    f(
        "inventorySetQuantities",
        Object("InventorySetQuantitiesPayload"),
        &["input"],
    ),
    f(
        "productUpdate",
        Object("ProductUpdatePayload"),
        &["product", "input", "media"],
    ),
    f(
        "productCreate",
        Object("ProductCreatePayload"),
        &["product", "input", "media"],
    ),
    f(
        "productVariantsBulkCreate",
        Object("ProductVariantsBulkCreatePayload"),
        &["productId", "variants", "strategy", "media"],
    ),
    f(
        "publishablePublish",
        Object("PublishablePublishPayload"),
        &["id", "input"],
    ),
    f(
        "inventoryActivate",
        Object("InventoryActivatePayload"),
        &[
            "inventoryItemId",
            "locationId",
            "available",
            "onHand",
            "stockAtLegacyLocation",
        ],
    ),
];

const SHOP: &[FieldDef] = &[
    s("id"),
    s("name"),
    s("myshopifyDomain"),
    s("currencyCode"),
    s("email"),
];
const APP_INSTALLATION: &[FieldDef] = &[s("id"), f("accessScopes", List("AccessScope"), &[])];
const ACCESS_SCOPE: &[FieldDef] = &[s("handle"), s("description")];
const LOCATION: &[FieldDef] = &[
    s("id"),
    s("legacyResourceId"),
    s("name"),
    s("isActive"),
    s("activatable"),
    s("deactivatable"),
    s("fulfillsOnlineOrders"),
];
const PRODUCT_VARIANT: &[FieldDef] = &[
    s("id"),
    s("legacyResourceId"),
    s("title"),
    s("displayName"),
    s("sku"),
    s("price"),
    s("compareAtPrice"),
    s("barcode"),
    s("requiresComponents"),
    s("inventoryQuantity"),
    s("position"),
    s("taxable"),
    s("inventoryPolicy"),
    f("selectedOptions", List("SelectedOption"), &[]),
    f("product", Object("Product"), &[]),
    f("inventoryItem", Object("InventoryItem"), &[]),
];
const PRODUCT: &[FieldDef] = &[
    s("id"),
    s("legacyResourceId"),
    s("title"),
    s("handle"),
    s("status"),
    s("tags"),
    s("vendor"),
    s("productType"),
    s("descriptionHtml"),
    s("totalInventory"),
    s("tracksInventory"),
    f("options", List("ProductOption"), &["first"]),
    f(
        "variants",
        Connection("ProductVariantConnection", "ProductVariant"),
        CONN_ARGS,
    ),
    f(
        "resourcePublications",
        Connection("ResourcePublicationConnection", "ResourcePublication"),
        &[
            "first",
            "last",
            "after",
            "before",
            "reverse",
            "onlyPublished",
        ],
    ),
    f("publishedOnPublication", Kind::Scalar, &["publicationId"]),
];
const PUBLICATION: &[FieldDef] = &[
    s("id"),
    s("name"),
    s("autoPublish"),
    f("catalog", Object("Catalog"), &[]),
];
const CATALOG: &[FieldDef] = &[s("id"), s("title"), s("status")];
const RESOURCE_PUBLICATION: &[FieldDef] = &[
    s("isPublished"),
    s("publishDate"),
    f("publication", Object("Publication"), &[]),
];
const PUBLISH_PAYLOAD: &[FieldDef] = &[
    f("publishable", Object("Product"), &[]),
    f("shop", Object("Shop"), &[]),
    // `UserError`, without `code` (2026-07 SDL).
    f("userErrors", List("UserError"), &[]),
];
const INVENTORY_ITEM: &[FieldDef] = &[
    s("id"),
    s("legacyResourceId"),
    s("sku"),
    s("tracked"),
    s("requiresShipping"),
    f("unitCost", Object("MoneyV2"), &[]),
    f("variant", Object("ProductVariant"), &[]),
    f(
        "inventoryLevels",
        Connection("InventoryLevelConnection", "InventoryLevel"),
        CONN_ARGS,
    ),
];
const MONEY_V2: &[FieldDef] = &[s("amount"), s("currencyCode")];
const INVENTORY_LEVEL: &[FieldDef] = &[
    s("id"),
    s("isActive"),
    s("canDeactivate"),
    s("createdAt"),
    s("updatedAt"),
    f("location", Object("Location"), &[]),
    f("item", Object("InventoryItem"), &[]),
    f("quantities", List("InventoryQuantity"), &["names"]),
];
const INVENTORY_QUANTITY: &[FieldDef] = &[s("id"), s("name"), s("quantity"), s("updatedAt")];
const NODE: &[FieldDef] = &[s("id")];
const PAGE_INFO: &[FieldDef] = &[
    s("hasNextPage"),
    s("hasPreviousPage"),
    s("startCursor"),
    s("endCursor"),
];
const BULK_UPDATE_PAYLOAD: &[FieldDef] = &[
    f("product", Object("Product"), &[]),
    f("productVariants", List("ProductVariant"), &[]),
    f(
        "userErrors",
        List("ProductVariantsBulkUpdateUserError"),
        &[],
    ),
];
const PRODUCT_OPTION: &[FieldDef] = &[
    s("id"),
    s("name"),
    s("position"),
    s("values"),
    f("optionValues", List("ProductOptionValue"), &[]),
];
const PRODUCT_OPTION_VALUE: &[FieldDef] = &[s("name"), s("hasVariants")];
const SELECTED_OPTION: &[FieldDef] = &[s("name"), s("value")];
const PRODUCT_CREATE_PAYLOAD: &[FieldDef] = &[
    f("product", Object("Product"), &[]),
    // `UserError`, without `code` (2026-07 SDL).
    f("userErrors", List("UserError"), &[]),
];
const BULK_CREATE_PAYLOAD: &[FieldDef] = &[
    f("product", Object("Product"), &[]),
    f("productVariants", List("ProductVariant"), &[]),
    f(
        "userErrors",
        List("ProductVariantsBulkCreateUserError"),
        &[],
    ),
];
const PRODUCT_UPDATE_PAYLOAD: &[FieldDef] = &[
    f("product", Object("Product"), &[]),
    // `UserError`, without `code` (2026-07 SDL).
    f("userErrors", List("UserError"), &[]),
];
const SET_PAYLOAD: &[FieldDef] = &[
    f(
        "inventoryAdjustmentGroup",
        Object("InventoryAdjustmentGroup"),
        &[],
    ),
    f("userErrors", List("InventorySetQuantitiesUserError"), &[]),
];
const ACTIVATE_PAYLOAD: &[FieldDef] = &[
    f("inventoryLevel", Object("InventoryLevel"), &[]),
    // `UserError`, not a typed error: it has no `code` (2026-07 SDL).
    f("userErrors", List("UserError"), &[]),
];
const ADJUSTMENT_GROUP: &[FieldDef] = &[
    s("id"),
    s("createdAt"),
    s("reason"),
    s("referenceDocumentUri"),
    f(
        "changes",
        List("InventoryChange"),
        &["inventoryItemIds", "locationIds", "quantityNames"],
    ),
];
const INVENTORY_CHANGE: &[FieldDef] = &[
    s("name"),
    s("delta"),
    s("quantityAfterChange"),
    s("ledgerDocumentUri"),
    f("item", Object("InventoryItem"), &[]),
    f("location", Object("Location"), &[]),
];
const COUNT: &[FieldDef] = &[s("count"), s("precision")];
const BULK_OPERATION: &[FieldDef] = &[
    s("id"),
    s("status"),
    s("errorCode"),
    s("createdAt"),
    s("completedAt"),
    s("objectCount"),
    s("rootObjectCount"),
    s("fileSize"),
    s("url"),
    s("partialDataUrl"),
    s("query"),
    s("type"),
];
const BULK_RUN_QUERY_PAYLOAD: &[FieldDef] = &[
    f("bulkOperation", Object("BulkOperation"), &[]),
    f("userErrors", List("BulkOperationUserError"), &[]),
];
const BULK_RUN_MUTATION_PAYLOAD: &[FieldDef] = &[
    f("bulkOperation", Object("BulkOperation"), &[]),
    f("userErrors", List("BulkMutationUserError"), &[]),
];
const STAGED_UPLOADS_PAYLOAD: &[FieldDef] = &[
    f("stagedTargets", List("StagedMediaUploadTarget"), &[]),
    f("userErrors", List("UserError"), &[]),
];
const STAGED_TARGET: &[FieldDef] = &[
    s("url"),
    s("resourceUrl"),
    f("parameters", List("StagedUploadParameter"), &[]),
];
const STAGED_PARAMETER: &[FieldDef] = &[s("name"), s("value")];
const TYPED_USER_ERROR: &[FieldDef] = &[s("field"), s("message"), s("code")];
const USER_ERROR: &[FieldDef] = &[s("field"), s("message")];

/// The fields of `type_name`, or `None` for a type this fake does not know.
pub fn fields(type_name: &str) -> Option<&'static [FieldDef]> {
    Some(match type_name {
        "QueryRoot" => QUERY_ROOT,
        "Mutation" => MUTATION_ROOT,
        "Shop" => SHOP,
        "AppInstallation" => APP_INSTALLATION,
        "AccessScope" => ACCESS_SCOPE,
        "Location" => LOCATION,
        "ProductVariant" => PRODUCT_VARIANT,
        "Product" => PRODUCT,
        "InventoryItem" => INVENTORY_ITEM,
        "MoneyV2" => MONEY_V2,
        "InventoryLevel" => INVENTORY_LEVEL,
        "InventoryQuantity" => INVENTORY_QUANTITY,
        "Node" => NODE,
        "PageInfo" => PAGE_INFO,
        "ProductVariantsBulkUpdatePayload" => BULK_UPDATE_PAYLOAD,
        "InventorySetQuantitiesPayload" => SET_PAYLOAD,
        "ProductUpdatePayload" => PRODUCT_UPDATE_PAYLOAD,
        "ProductCreatePayload" => PRODUCT_CREATE_PAYLOAD,
        "ProductVariantsBulkCreatePayload" => BULK_CREATE_PAYLOAD,
        "ProductOption" => PRODUCT_OPTION,
        "ProductOptionValue" => PRODUCT_OPTION_VALUE,
        "SelectedOption" => SELECTED_OPTION,
        "InventoryActivatePayload" => ACTIVATE_PAYLOAD,
        "InventoryAdjustmentGroup" => ADJUSTMENT_GROUP,
        "InventoryChange" => INVENTORY_CHANGE,
        "Count" => COUNT,
        "Publication" => PUBLICATION,
        "Catalog" | "AppCatalog" => CATALOG,
        "ResourcePublication" => RESOURCE_PUBLICATION,
        "PublishablePublishPayload" => PUBLISH_PAYLOAD,
        "BulkOperation" => BULK_OPERATION,
        "BulkOperationRunQueryPayload" => BULK_RUN_QUERY_PAYLOAD,
        "BulkOperationRunMutationPayload" => BULK_RUN_MUTATION_PAYLOAD,
        "StagedUploadsCreatePayload" => STAGED_UPLOADS_PAYLOAD,
        "StagedMediaUploadTarget" => STAGED_TARGET,
        "StagedUploadParameter" => STAGED_PARAMETER,
        "ProductVariantsBulkUpdateUserError"
        | "ProductVariantsBulkCreateUserError"
        | "InventorySetQuantitiesUserError"
        | "BulkOperationUserError"
        | "BulkMutationUserError" => TYPED_USER_ERROR,
        "UserError" => USER_ERROR,
        _ => return None,
    })
}

pub fn field(type_name: &str, name: &str) -> Option<&'static FieldDef> {
    fields(type_name)?.iter().find(|d| d.name == name)
}

/// Whether an object of concrete type `concrete` satisfies a fragment on `condition`.
pub fn type_matches(condition: &str, concrete: &str) -> bool {
    condition == concrete
        || (condition == "Node"
            && matches!(
                concrete,
                "ProductVariant"
                    | "Product"
                    | "InventoryItem"
                    | "InventoryLevel"
                    | "Location"
                    | "BulkOperation"
                    | "Publication"
                    | "AppCatalog"
            ))
        || (condition == "Catalog" && concrete == "AppCatalog")
}
