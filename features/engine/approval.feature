# language: zh-CN
功能: 审核(approval):需要审核的规则先成为待审核的申报,不动余额和上限

  背景:
    假如 村里有以下农户:
      | 户号 | 网格 | 颜色   |
      | H1   | G1   | yellow |
    并且 村里有以下村民:
      | 编号 | 户号 | 党员 |
      | P1   | H1   | 否   |
    并且 规则文件如下:
      """
      point_types:
        - {key: moral, name: 道德积分, holder: household, step: 0.5, period: year}
      event_types:
        - {key: model, name: 美丽庭院示范户, subject: person}
      rules:
        - id: Y1
          name: 美丽庭院示范户
          point_type: moral
          event: model
          points: {fixed: 15}
          caps: [{window: year, max: 15}]
          approval: {required: true, notice_days: 7, roles: [grid_worker]}
      """

  场景: 未经审核的申报待审核,已审核的直接记分
    当 录入以下事件:
      | 编号 | 类型  | 时间             | 村民 | 审核人 |
      | m1   | model | 2026-04-01 09:00 | P1   |        |
      | m2   | model | 2026-04-02 09:00 | P1   | 书记   |
    那么 事件 m1 的结果为“待审核”
    并且 事件 m1 没有按规则 Y1 记分
    并且 事件 m2 按规则 Y1 记 15 分
    并且 H1 的 moral 余额为 15
