-- Documents: the attachments of interactions (mostly e-mails).
CREATE TABLE document (
    id             varchar(16) COLLATE "C" PRIMARY KEY,
    interaction_id varchar(16) COLLATE "C" NOT NULL
                   REFERENCES interaction (id) ON DELETE CASCADE,
    tenant_id      integer      NOT NULL,
    the_name       varchar(512) NOT NULL,
    mime_type      varchar(128),
    the_size       integer      NOT NULL,
    content        bytea,
    created_date   timestamptz  NOT NULL
);

CREATE INDEX document_interaction_idx ON document (interaction_id, id);
CREATE INDEX document_tenant_idx ON document (tenant_id);
